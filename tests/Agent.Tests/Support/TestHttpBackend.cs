using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>
/// A real HTTP backend on 127.0.0.1 and a free port: answers every request with
/// <see cref="Status"/> and <see cref="Body"/> (with a Content-Length) and records when it answered.
/// </summary>
internal sealed class TestHttpBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private volatile int _status = 200;

    private TestHttpBackend(WebApplication app, string body)
    {
        _app = app;
        Body = body;
    }

    public int Port { get; private set; }

    public string Body { get; set; }

    public int Status
    {
        get => _status;
        set => _status = value;
    }

    /// <summary>How long every answer (health probes included) is held back.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Every answer, in order: (status, UTC time it was sent).</summary>
    public ConcurrentQueue<(int Status, DateTime At)> Answers { get; } = new();

    /// <param name="certificate">Serve HTTPS with this certificate (and its key) instead of HTTP.</param>
    public static async Task<TestHttpBackend> StartAsync(string body = "ok", System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (certificate is null)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        }
        var app = builder.Build();
        var backend = new TestHttpBackend(app, body);
        app.Run(async context =>
        {
            if (backend.Delay > TimeSpan.Zero)
            {
                await Task.Delay(backend.Delay);
            }
            var status = backend.Status;
            var bytes = Encoding.UTF8.GetBytes(backend.Body);
            context.Response.StatusCode = status;
            context.Response.ContentLength = bytes.Length;
            backend.Answers.Enqueue((status, DateTime.UtcNow));
            await context.Response.Body.WriteAsync(bytes);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        backend.Port = new Uri(address).Port;
        return backend;
    }

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
