using System.Net;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Hosting;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Tcp.Epoll;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>
/// The agent's services wired as in production (the sync client retries against a closed port,
/// harmlessly), serving real listeners on loopback; snapshots are handed to it directly.
/// </summary>
internal sealed class InProcessAgent : IAsyncDisposable
{
    private readonly string _cacheDirectory;
    private readonly WebApplication _app;

    private InProcessAgent(WebApplication app, string cacheDirectory)
    {
        _app = app;
        _cacheDirectory = cacheDirectory;
    }

    public long Revision { get; private set; }

    public ConfigApplier Applier => _app.Services.GetRequiredService<ConfigApplier>();

    public ListenerManager Listeners => _app.Services.GetRequiredService<ListenerManager>();

    public LoadBalancer.Agent.Pools.PoolRegistry Pools => _app.Services.GetRequiredService<LoadBalancer.Agent.Pools.PoolRegistry>();

    public LoadBalancer.Agent.Metrics.AgentMetrics Metrics => _app.Services.GetRequiredService<LoadBalancer.Agent.Metrics.AgentMetrics>();

    /// <param name="tier">The tier the agent serves.</param>
    /// <param name="listenerTime">The clock of the listener manager's retry loop alone (the rest keeps real time).</param>
    /// <param name="fastPath">False to send every HTTP request through YARP (lb-agent --http-fast-path off).</param>
    /// <param name="tcpRelay">How tcp listeners relay bytes (lb-agent --tcp-relay).</param>
    public static async Task<InProcessAgent> StartAsync(string tier, TimeProvider? listenerTime = null, bool fastPath = true, TcpRelayKind tcpRelay = TcpRelayKind.Epoll)
    {
        var cacheDirectory = Path.Combine(Path.GetTempPath(), "agent-listeners-" + Guid.NewGuid().ToString("N"));
        var options = new AgentOptions
        {
            ControlPlanes = [new Uri($"http://127.0.0.1:{Ports.Free()}")],
            Tier = tier,
            Name = "test-agent",
            CacheDirectory = cacheDirectory,
            AdminUrl = "http://127.0.0.1:0",
            BindAddress = IPAddress.Loopback,
            HttpFastPath = fastPath,
            TcpRelay = tcpRelay,
        };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.AdminUrl);
        builder.Services.AddAgent(options);
        if (listenerTime is not null)
        {
            // The last registration is the one resolved.
            builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ListenerManager>(sp, listenerTime));
        }
        var app = builder.Build();
        await app.StartAsync();
        return new InProcessAgent(app, cacheDirectory);
    }

    /// <summary>Applies the next revision made of these parts.</summary>
    public Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(IReadOnlyList<ListenerConfig> listeners, IReadOnlyList<PoolConfig> pools, IReadOnlyList<CertificateConfig>? certificates = null)
    {
        Revision++;
        return Applier.ApplyAsync(new TierConfig(Revision, "hash-" + Revision, "edge", listeners, pools, certificates ?? []), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (Directory.Exists(_cacheDirectory))
        {
            Directory.Delete(_cacheDirectory, recursive: true);
        }
        // The key that seals the cache lives beside its folder.
        File.Delete(LoadBalancer.Agent.Cache.CacheKeyFile.DefaultPath(_cacheDirectory));
    }
}
