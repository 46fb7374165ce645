using LoadBalancer.Agent.Cache;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Metrics;
using Prometheus;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Sync;
using LoadBalancer.Agent.Tcp;
using LoadBalancer.Agent.Tls;
using LoadBalancer.Agent.Tracing;

namespace LoadBalancer.Agent.Hosting;

internal static class AgentServiceExtensions
{
    public static IServiceCollection AddAgent(this IServiceCollection services, AgentOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        // With the runtime's inline socket completions on, Kestrel's pipes run their continuations
        // inline too: a request is then served on the socket engine's thread, without a thread
        // pool hop at each read or write (see docs/agent-performance.md).
        services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(o =>
        {
            o.UnsafePreferInlineScheduling = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";
            if (Environment.GetEnvironmentVariable("LB_AGENT_WAIT_FOR_DATA") == "0")
            {
                o.WaitForDataBeforeAllocatingBuffer = false;
            }
        });
        services.AddHttpForwarder();
        services.AddSingleton<BackendActivity>();
        services.AddSingleton(_ => new AgentMetrics());
        services.AddSingleton<PoolRegistry>();
        services.AddSingleton<HttpProxyHandler>();
        services.AddSingleton<FastPath.BackendConnectionPool>();
        services.AddSingleton<FastPath.FastHttpHandler>();
        services.AddSingleton<ListenerEndpointConfigurator>();
        services.AddSingleton<Tcp.Epoll.TcpRelayEngine>();
        services.AddSingleton<TcpProxyHandler>();
        services.AddSingleton<CertificateLoader>();
        services.AddSingleton<ListenerManager>();
        services.AddSingleton<ConfigApplier>();
        services.AddSingleton<SnapshotDiskCache>();
        services.AddSingleton<SyncClient>();
        services.AddHostedService(sp => sp.GetRequiredService<SyncClient>());
        services.AddSingleton<HealthMonitor>();
        services.AddHostedService<HealthReporter>();
        services.AddHostedService<ListenerShutdown>();
        services.AddAgentTracing(options);
        return services;
    }

    public static WebApplication MapAdmin(this WebApplication app)
    {
        var applier = app.Services.GetRequiredService<ConfigApplier>();
        var listeners = app.Services.GetRequiredService<ListenerManager>();
        var metrics = app.Services.GetRequiredService<AgentMetrics>();
        var pools = app.Services.GetRequiredService<PoolRegistry>();
        var certificates = app.Services.GetRequiredService<CertificateLoader>();
        pools.PoolsChanged += current => metrics.Retain(current.SelectMany(p => p.Backends).ToList());
        Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
            metrics.UpdateGauges(pools.Pools, certificates.Loaded, applier.Current.Revision, listeners.Outcomes.Count(o => !o.Programmed)));
        app.MapMetrics("/metrics");
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => applier.HasConfig
            ? Results.Text($"ready: revision {applier.Current.Revision}\n")
            : Results.Text("not ready: no snapshot yet\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/config", () => Results.Json(AdminConfigView.Render(applier.Current, listeners.Outcomes, listeners.ServedCertificates)));
        return app;
    }
}

/// <summary>On SIGTERM: stop accepting, let in-flight requests finish (bounded), then exit.</summary>
internal sealed class ListenerShutdown(ListenerManager listeners) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => listeners.StopAllAsync(TimeSpan.FromSeconds(10));
}
