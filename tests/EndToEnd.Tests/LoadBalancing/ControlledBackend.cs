using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.EndToEnd.Tests.LoadBalancing;

/// <summary>
/// An HTTP backend inside the test process, for what the sample backend cannot do: answer every
/// request after a fixed delay (a backend that is slow as a whole), and hold requests under
/// <c>/hold/</c> until the test releases them while counting how many it holds, so a test can
/// wait for "the agent has N requests in flight here" instead of sleeping. It counts the
/// requests it answers and echoes a request body under <c>/echo</c>, for the retry tests.
/// </summary>
public sealed class ControlledBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly object _gate = new();
    private TaskCompletionSource _release = NewRelease();
    private int _held;
    private int _requests;

    private ControlledBackend(string name, int port, TimeSpan delay, WebApplication app)
    {
        Name = name;
        Port = port;
        Delay = delay;
        _app = app;
    }

    public string Name { get; }

    public int Port { get; }

    public TimeSpan Delay { get; }

    /// <summary>Requests under /hold/ that arrived and have not been released yet.</summary>
    public int Held => Volatile.Read(ref _held);

    /// <summary>Requests that reached this backend, health checks included.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<ControlledBackend> StartAsync(string name, TimeSpan delay = default)
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var app = builder.Build();
        var backend = new ControlledBackend(name, port, delay, app);
        app.Run(backend.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        return backend;
    }

    /// <summary>Lets every held request answer; later /hold/ requests are held again.</summary>
    public void ReleaseAll()
    {
        TaskCompletionSource release;
        lock (_gate)
        {
            release = _release;
            _release = NewRelease();
        }
        release.TrySetResult();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        context.Response.Headers["X-Backend"] = Name;
        if (context.Request.Path.StartsWithSegments("/echo", StringComparison.Ordinal))
        {
            await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
            return;
        }
        if (context.Request.Path.StartsWithSegments("/hold", StringComparison.Ordinal))
        {
            Task release;
            lock (_gate)
            {
                release = _release.Task;
                Interlocked.Increment(ref _held);
            }
            try
            {
                await release.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _held);
            }
        }
        else if (Delay > TimeSpan.Zero && !context.Request.Path.StartsWithSegments("/healthz", StringComparison.Ordinal))
        {
            await Task.Delay(Delay, context.RequestAborted).ConfigureAwait(false);
        }
        await context.Response.WriteAsync($"{Name} {context.Request.Method} {context.Request.Path}\n").ConfigureAwait(false);
    }

    private static TaskCompletionSource NewRelease() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        ReleaseAll();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
