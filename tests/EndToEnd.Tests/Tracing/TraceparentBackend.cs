using System.Collections.Concurrent;
using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.EndToEnd.Tests.Tracing;

/// <summary>
/// An HTTP backend in the test process that keeps the traceparent and tracestate each request
/// came with, by path ("-" for none).
/// </summary>
public sealed class TraceparentBackend : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, (string TraceParent, string TraceState)> _seen = new(StringComparer.Ordinal);
    private WebApplication _app = null!;

    public int Port { get; private set; }

    public (string TraceParent, string TraceState)? Seen(string path) => _seen.TryGetValue(path, out var headers) ? headers : null;

    public static async Task<TraceparentBackend> StartAsync()
    {
        var backend = new TraceparentBackend { Port = Ports.Free() };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{backend.Port.ToString(CultureInfo.InvariantCulture)}");
        var app = builder.Build();
        app.Run(context =>
        {
            var headers = context.Request.Headers;
            if (context.Request.Path != "/healthz")
            {
                _ = backend._seen.TryAdd(context.Request.Path.Value ?? "/", (Or(headers.TraceParent), Or(headers.TraceState)));
            }
            return context.Response.WriteAsync("ok\n");
        });
        await app.StartAsync().ConfigureAwait(false);
        backend._app = app;
        return backend;
    }

    private static string Or(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? "-" : values.ToString();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
