using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancer.Agent.Listeners;

/// <summary>
/// One running listener: its own Kestrel server bound to the listener's port. Route changes are
/// swapped in without touching the server, so open connections are never disturbed by them.
/// </summary>
internal sealed class ListenerRuntime(ListenerConfig config, KestrelServer server, ListenerState state) : IAsyncDisposable
{
    public ListenerConfig Config { get; private set; } = config;

    public ListenerState State { get; } = state;

    public KestrelServer Server { get; } = server;

    public void Update(ListenerConfig config)
    {
        Config = config;
        State.Routes = new RouteTable(config.Routes);
        State.Config = config;
    }

    public async Task StopAsync(TimeSpan grace)
    {
        using var cts = new CancellationTokenSource(grace);
        try
        {
            await Server.StopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Grace period over: remaining connections are aborted by Dispose.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Server.Dispose();
        await Task.CompletedTask.ConfigureAwait(false);
    }
}

/// <summary>The part of a listener that its request and connection handlers read on every call.</summary>
internal sealed class ListenerState(ListenerConfig config)
{
    private RouteTable _routes = new(config.Routes);
    private ListenerConfig _config = config;

    public RouteTable Routes
    {
        get => Volatile.Read(ref _routes);
        set => Volatile.Write(ref _routes, value);
    }

    public ListenerConfig Config
    {
        get => Volatile.Read(ref _config);
        set => Volatile.Write(ref _config, value);
    }
}
