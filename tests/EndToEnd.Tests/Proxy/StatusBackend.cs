using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.EndToEnd.Tests.Proxy;

/// <summary>
/// An HTTP backend inside the test process whose answers the test sets: <see cref="Status"/> for
/// every request, <see cref="HealthStatus"/> for <c>/healthz</c>. It names itself in X-Backend
/// and counts the requests that are not health checks.
/// </summary>
public sealed class StatusBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _status = 200;
    private int _healthStatus = 200;
    private int _requests;

    private StatusBackend(string name, int port, WebApplication app)
    {
        Name = name;
        Port = port;
        _app = app;
    }

    public string Name { get; }

    public int Port { get; }

    public int Status
    {
        get => Volatile.Read(ref _status);
        set => Volatile.Write(ref _status, value);
    }

    public int HealthStatus
    {
        get => Volatile.Read(ref _healthStatus);
        set => Volatile.Write(ref _healthStatus, value);
    }

    /// <summary>Requests other than health checks that reached this backend.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<StatusBackend> StartAsync(string name)
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var app = builder.Build();
        var backend = new StatusBackend(name, port, app);
        app.Run(backend.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        return backend;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var health = context.Request.Path.StartsWithSegments("/healthz", StringComparison.Ordinal);
        if (!health)
        {
            Interlocked.Increment(ref _requests);
        }
        context.Response.StatusCode = health ? HealthStatus : Status;
        context.Response.Headers["X-Backend"] = Name;
        await context.Response.WriteAsync($"{Name} {context.Response.StatusCode}\n").ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
