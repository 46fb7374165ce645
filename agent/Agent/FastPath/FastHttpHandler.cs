using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Metrics;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.FastPath;

/// <summary>
/// The HTTP/1.1 fast path, a Kestrel connection middleware in front of Kestrel's HTTP server:
/// requests of the common, strictly parsed subset are forwarded by the agent itself over pooled
/// backend connections with headers copied as bytes; at the first request outside it (see
/// <see cref="Http1Request"/>), an HTTP/2 connection, or a pool it does not serve (https to the
/// backends), the connection is handed, with that request unread, to Kestrel and YARP for the
/// rest of its life. The routing, balancing, persistence, retry, passive health, metrics and
/// access-log rules are the same as <see cref="Proxy.HttpProxyHandler"/>'s.
/// </summary>
internal sealed partial class FastHttpHandler : IDisposable
{
    /// <summary>Kestrel's KeepAliveTimeout: an idle client connection is closed after it.</summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(130);

    /// <summary>Kestrel's RequestHeadersTimeout: a head must arrive whole within it once begun.</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<FastConnection, byte> _open = new();
    private readonly Timer _clock;

    public FastHttpHandler(PoolRegistry pools, HealthMonitor health, BackendActivity activity, AgentMetrics metrics, BackendConnectionPool connections, ILogger<FastHttpHandler> logger, ILoggerFactory loggers)
    {
        Pools = pools;
        Health = health;
        Activity = activity;
        Metrics = metrics;
        Connections = connections;
        Logger = logger;
        AccessLog = loggers.CreateLogger("LoadBalancer.Agent.AccessLog");
        // One clock for every deadline (idle clients, slow heads, silent backends), as Kestrel's
        // heartbeat: no timer or CancellationTokenSource per request.
        _clock = new Timer(static state => ((FastHttpHandler)state!).Tick(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    internal PoolRegistry Pools { get; }

    internal HealthMonitor Health { get; }

    internal BackendActivity Activity { get; }

    internal AgentMetrics Metrics { get; }

    internal BackendConnectionPool Connections { get; }

    internal ILogger Logger { get; }

    internal ILogger AccessLog { get; }

    /// <summary>Runs a listener connection: the fast path while it can, then Kestrel's HTTP handling.</summary>
    public async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next, ListenerState listener, bool https)
    {
        if (https && connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol is { Length: > 0 } alpn
            && !alpn.Span.SequenceEqual("http/1.1"u8))
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var fast = new FastConnection(this, connection, listener, https);
        _open.TryAdd(fast, 0);
        bool fallBack;
        try
        {
            fallBack = await fast.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _open.TryRemove(fast, out _);
            fast.Dispose();
        }
        if (fallBack)
        {
            await next(connection).ConfigureAwait(false);
        }
    }

    private void Tick()
    {
        var now = Environment.TickCount64;
        foreach (var connection in _open.Keys)
        {
            connection.CheckDeadline(now);
        }
    }

    public void Dispose() => _clock.Dispose();

    internal static partial class Log
    {
        [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "{Client} \"{Method} {Host}{Path} {Protocol}\" {Status} listener={Listener} pool={Pool} backend={Backend} duration_ms={DurationMs:0.###}")]
        public static partial void Access(ILogger logger, string client, string method, string host, string path, string protocol, int status, string listener, string pool, string backend, double durationMs);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Client canceled a request to {Pool}/{Backend} ({Error})")]
        public static partial void ClientCanceled(ILogger logger, string pool, string backend, string error);

        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Forwarding to {Pool}/{Backend} failed with {Error} (retrying: {Retrying}): {Reason}")]
        public static partial void ForwardFailed(ILogger logger, string pool, string backend, string error, bool retrying, string? reason);
    }
}
