using System.Collections.Concurrent;
using LoadBalancer.Agent.LoadBalancing;
using Prometheus;

namespace LoadBalancer.Agent.Metrics;

/// <summary>
/// The agent's Prometheus metrics. Labels are names from the configuration only (listener,
/// pool, backend, certificate), never client addresses or paths, so cardinality stays bounded.
/// Label children are cached per listener and backend so that the request path allocates
/// nothing for them.
/// </summary>
public sealed class AgentMetrics
{
    private static readonly string[] CodeClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    private readonly Counter _requests;
    private readonly Histogram _duration;
    private readonly ConcurrentDictionary<(string Listener, BackendState Backend), RequestChildren> _requestChildren = new();
    private readonly ConcurrentDictionary<BackendState, TcpChildren> _tcpChildren = new(ReferenceEqualityComparer.Instance);

    public AgentMetrics(CollectorRegistry? registry = null)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(registry ?? Prometheus.Metrics.DefaultRegistry);
        _requests = factory.CreateCounter("lb_agent_requests_total", "HTTP requests forwarded, by listener, pool, backend and status class.", "listener", "pool", "backend", "code");
        _duration = factory.CreateHistogram("lb_agent_request_duration_seconds", "Time to forward a request and stream its response, by pool and backend.",
            new HistogramConfiguration { LabelNames = ["pool", "backend"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        NoBackend = factory.CreateCounter("lb_agent_requests_unrouted_total", "Requests answered by the agent itself (no route, no backend, full), by listener and status.", "listener", "code");
        TcpOpen = factory.CreateGauge("lb_agent_tcp_connections_open", "Open TCP connections, by pool and backend.", "pool", "backend");
        TcpConnections = factory.CreateCounter("lb_agent_tcp_connections_total", "TCP connections proxied, by pool and backend.", "pool", "backend");
        TcpBytes = factory.CreateCounter("lb_agent_tcp_bytes_total", "Bytes proxied over TCP, by pool, backend and direction.", "pool", "backend", "direction");
        BackendHealthy = factory.CreateGauge("lb_agent_backend_healthy", "1 when this agent sees the backend healthy, 0 when unhealthy, -1 while unknown; by pool, backend and check type.", "pool", "backend", "check");
        BackendAdminState = factory.CreateGauge("lb_agent_backend_admin_state", "0 enabled, 1 draining, 2 disabled.", "pool", "backend");
        InFlight = factory.CreateGauge("lb_agent_backend_in_flight", "Requests and connections in flight, by pool and backend.", "pool", "backend");
        Revision = factory.CreateGauge("lb_agent_config_revision", "Revision of the snapshot being served.");
        Nacks = factory.CreateCounter("lb_agent_snapshot_nacks_total", "Snapshots refused whole.");
        Deltas = factory.CreateCounter("lb_agent_config_deltas_total", "Configuration changes received as deltas and applied.");
        Snapshots = factory.CreateCounter("lb_agent_config_snapshots_total", "Whole snapshots received from the control plane and applied.");
        DeltaFailures = factory.CreateCounter("lb_agent_config_delta_failures_total",
            "Deltas that did not apply (each answered by a NACK and a whole snapshot), by reason: base, missing, hash, invalid.", "reason");
        ListenerFailures = factory.CreateGauge("lb_agent_listeners_failed", "Listeners of the snapshot that could not be programmed.");
        TlsHandshakes = factory.CreateCounter("lb_agent_tls_handshakes_total", "TLS handshakes started, by listener.", "listener");
        CertificateExpiry = factory.CreateGauge("lb_agent_certificate_expiry_seconds", "Seconds until each served certificate expires.", "certificate");
        FailOpen = factory.CreateCounter("lb_agent_fail_open_total", "Picks made while no backend of the pool was healthy (spread over all enabled ones).", "pool");
        ProxyProtocolRefused = factory.CreateCounter("lb_agent_tcp_proxy_protocol_refused_total",
            "Connections to a listener that accepts the PROXY protocol closed before relaying, by listener and reason (untrusted source, invalid, timeout, closed).", "listener", "reason");
        ConnectionsDenied = factory.CreateCounter("lb_agent_connections_denied_total", "Connections closed at once because the listener's allow or deny list keeps their client out, by listener.", "listener");
    }

    public Counter ProxyProtocolRefused { get; }

    public Counter ConnectionsDenied { get; }

    public Counter NoBackend { get; }

    public Gauge TcpOpen { get; }

    public Counter TcpConnections { get; }

    public Counter TcpBytes { get; }

    public Gauge BackendHealthy { get; }

    public Gauge BackendAdminState { get; }

    public Gauge InFlight { get; }

    public Gauge Revision { get; }

    public Counter Nacks { get; }

    public Counter Deltas { get; }

    public Counter Snapshots { get; }

    public Counter DeltaFailures { get; }

    public Gauge ListenerFailures { get; }

    public Counter TlsHandshakes { get; }

    public Gauge CertificateExpiry { get; }

    public Counter FailOpen { get; }

    public void RecordRequest(string listener, BackendState backend, int status, TimeSpan elapsed)
    {
        var children = _requestChildren.GetOrAdd((listener, backend), static (key, metrics) => new RequestChildren(metrics, key.Listener, key.Backend), this);
        var index = Math.Clamp((status / 100) - 1, 0, 4);
        children.Codes[index].Inc();
        children.Duration.Observe(elapsed.TotalSeconds);
    }

    public TcpChildren Tcp(BackendState backend) =>
        _tcpChildren.GetOrAdd(backend, static (b, metrics) => new TcpChildren(metrics, b), this);

    /// <summary>Drops the series of backends that left the configuration.</summary>
    public void Retain(IReadOnlyCollection<BackendState> current)
    {
        var keep = current.ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var key in _requestChildren.Keys.Where(k => !keep.Contains(k.Backend)).ToList())
        {
            if (_requestChildren.TryRemove(key, out var children))
            {
                foreach (var code in children.Codes)
                {
                    code.Remove();
                }
                children.Duration.Remove();
            }
        }
        foreach (var backend in _tcpChildren.Keys.Where(b => !keep.Contains(b)).ToList())
        {
            _tcpChildren.TryRemove(backend, out _);
        }
    }

    /// <summary>Gauges read from the live state just before each scrape.</summary>
    public void UpdateGauges(IReadOnlyCollection<Pools.PoolRuntime> pools, IReadOnlyCollection<Tls.LoadedCertificate> certificates, long revision, int failedListeners)
    {
        Revision.Set(revision);
        ListenerFailures.Set(failedListeners);

        var health = new HashSet<string>(StringComparer.Ordinal);
        var perBackend = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pool in pools)
        {
            var check = pool.Config.HealthCheck?.Type ?? (pool.Config.PassiveHealth is null ? "none" : "passive");
            foreach (var backend in pool.Backends)
            {
                BackendHealthy.WithLabels(pool.Name, backend.Name, check).Set(backend.Health switch
                {
                    BackendHealth.Healthy => 1,
                    BackendHealth.Unhealthy => 0,
                    _ => -1,
                });
                BackendAdminState.WithLabels(pool.Name, backend.Name).Set((int)backend.AdminState);
                InFlight.WithLabels(pool.Name, backend.Name).Set(backend.InFlight);
                health.Add($"{pool.Name}\n{backend.Name}\n{check}");
                perBackend.Add($"{pool.Name}\n{backend.Name}");
            }
        }
        Prune(BackendHealthy, health);
        Prune(BackendAdminState, perBackend);
        Prune(InFlight, perBackend);

        var served = new HashSet<string>(StringComparer.Ordinal);
        var now = DateTime.UtcNow;
        foreach (var certificate in certificates)
        {
            CertificateExpiry.WithLabels(certificate.Name).Set((certificate.Leaf.NotAfter.ToUniversalTime() - now).TotalSeconds);
            served.Add(certificate.Name);
        }
        Prune(CertificateExpiry, served);
    }

    private static void Prune(Gauge gauge, HashSet<string> current)
    {
        foreach (var labels in gauge.GetAllLabelValues().ToList())
        {
            if (!current.Contains(string.Join('\n', labels)))
            {
                gauge.RemoveLabelled(labels);
            }
        }
    }

    private sealed class RequestChildren
    {
        public RequestChildren(AgentMetrics metrics, string listener, BackendState backend)
        {
            Codes = CodeClasses.Select(code => metrics._requests.WithLabels(listener, backend.Pool, backend.Name, code)).ToArray();
            Duration = metrics._duration.WithLabels(backend.Pool, backend.Name);
        }

        public Counter.Child[] Codes { get; }

        public Histogram.Child Duration { get; }
    }

    public sealed class TcpChildren(AgentMetrics metrics, BackendState backend)
    {
        public Gauge.Child Open { get; } = metrics.TcpOpen.WithLabels(backend.Pool, backend.Name);

        public Counter.Child Connections { get; } = metrics.TcpConnections.WithLabels(backend.Pool, backend.Name);

        public Counter.Child BytesToBackend { get; } = metrics.TcpBytes.WithLabels(backend.Pool, backend.Name, "to_backend");

        public Counter.Child BytesToClient { get; } = metrics.TcpBytes.WithLabels(backend.Pool, backend.Name, "to_client");
    }
}
