using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Tcp;

/// <summary>
/// The L4 path, for each connection a <see cref="TcpListenerServer"/> accepts: picks a backend
/// with the pool's balancer (the same core as HTTP), connects within connectTimeout (trying
/// another backend on failure, up to retries, before the client sees anything), then relays
/// bytes both ways until both sides have closed, passing a half-close on in each direction.
/// </summary>
internal sealed partial class TcpProxyHandler(PoolRegistry pools, HealthMonitor health, BackendActivity activity, Metrics.AgentMetrics metrics, Epoll.TcpRelayEngine engine, ILogger<TcpProxyHandler> logger)
{
    /// <summary>How long a client of a PROXY protocol listener has to send its header (HAProxy's and nginx's defaults are of this order).</summary>
    internal static TimeSpan ProxyHeaderTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Serves one accepted connection; the client socket is closed when this returns.</summary>
    public async Task HandleAsync(TcpRelayConnection connection, ListenerState state)
    {
        var config = state.Config;
        var pool = pools.Find(config.Pool);
        if (pool is null)
        {
            return;
        }
        var client = connection.Client.RemoteEndPoint as IPEndPoint;
        // The address the client connected to: read only for a PROXY header sent on (it allocates).
        IPEndPoint? local = null;
        if (config.ProxyProtocolTrustedSources is { } trusted)
        {
            // The header says who the client is: taken only from the load balancers in front,
            // and required from them, so no client can claim another's address.
            if (client is null || !trusted.Contains(client.Address))
            {
                Refuse(config.Name, client, "untrusted");
                return;
            }
            var read = await connection.ReadProxyHeaderAsync(ProxyHeaderTimeout).ConfigureAwait(false);
            if (read.Header is not { } header)
            {
                Refuse(config.Name, client, read.Failure);
                return;
            }
            if (header.Source is { } source)
            {
                client = source;
                local = header.Destination;
            }
        }
        if ((config.Allow is not null || config.Deny is not null) && (client is null || !config.Admits(client.Address)))
        {
            metrics.ConnectionsDenied.WithLabels(config.Name).Inc();
            return;
        }
        // Warming is bounded (a few seconds at most); a client that leaves meanwhile finds out at the relay.
        await pool.WhenWarmAsync(CancellationToken.None).ConfigureAwait(false);

        var context = Proxy.HttpHashKeys.ForAddress(client?.Address);
        // source-ip persistence: the client's address stays on its backend while that one drains.
        var attempts = new BackendAttempts(pool, pool.StickyBalancer ?? pool.Balancer, context, pool.StickyOwner(context));
        while (true)
        {
            var backend = attempts.Next(metrics, logger);
            if (backend is null)
            {
                Log.NoBackend(logger, config.Name, pool.Name);
                return;
            }

            Socket? socket;
            try
            {
                socket = await connection.ConnectBackendAsync(backend.Host, backend.Port, pool.Config.ConnectTimeout).ConfigureAwait(false);
            }
            catch (BackendConnectException ex)
            {
                Log.ConnectFailed(logger, backend.Pool, backend.Name, ex.TimedOut ? "timeout" : ex.InnerException!.Message);
                backend.Leave();
                if (attempts.Failed(backend, health, "connect failed", RetryRule.Allows(ForwardOutcome.ConnectFailed, ex.TimedOut, idempotent: false, responseStarted: false, bodyReadStarted: false)))
                {
                    continue;
                }
                return;
            }
            if (socket is null)
            {
                // Closed meanwhile (drain, listener stop): the backend is not at fault.
                backend.Leave();
                return;
            }
            health.ReportPassive(backend, true);

            var counters = metrics.Tcp(backend);
            counters.Connections.Inc();
            counters.Open.Inc();
            try
            {
                var preamble = pool.Config.ProxyProtocol is 1 or 2 ? ProxyProtocol.ProxyHeader.Write(pool.Config.ProxyProtocol, client, local ?? connection.Client.LocalEndPoint as IPEndPoint) : null;
                if (!connection.Attach(socket, pool.Config.IdleTimeout, counters, preamble))
                {
                    return;
                }
                connection.Owner.NoteIdleTimeout(pool.Config.IdleTimeout);
                using var registration = activity.Register(backend, connection.Abort);
                await connection.RelayAsync().ConfigureAwait(false);
            }
            finally
            {
                counters.Open.Dec();
                backend.Leave();
            }
            return;
        }
    }

    private void Refuse(string listener, IPEndPoint? peer, string reason)
    {
        metrics.ProxyProtocolRefused.WithLabels(listener, reason).Inc();
        // Debug: a scan of the port must not flood the log; the counter shows it.
        Log.ProxyHeaderRefused(logger, listener, peer?.ToString() ?? "?", reason);
    }

    /// <summary>The relay loop for a new connection, or null for the runtime's sockets.</summary>
    public Epoll.EpollLoop? NextLoop() => engine.NextLoop();

    private static partial class Log
    {
        [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Connect to {Pool}/{Backend} failed: {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string pool, string backend, string reason);

        [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Listener {Listener}: no backend of {Pool} available")]
        public static partial void NoBackend(ILogger logger, string listener, string pool);

        [LoggerMessage(EventId = 7010, Level = LogLevel.Debug, Message = "Listener {Listener}: connection from {Peer} closed before relaying: PROXY protocol {Reason} (untrusted: not from trustedSources; invalid, timeout, closed: the header)")]
        public static partial void ProxyHeaderRefused(ILogger logger, string listener, string peer, string reason);
    }
}
