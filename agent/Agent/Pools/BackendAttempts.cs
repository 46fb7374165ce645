using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Metrics;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// The pick / enter / retry / passive-health loop that YARP's path, the HTTP fast path and the
/// TCP path each run for one request or connection, written once: pick with the pool's balancer
/// (or the session's), never a backend that already failed this request, at most
/// 1 + <c>retries</c> attempts. A struct held by the caller's loop: nothing is allocated.
/// </summary>
internal struct BackendAttempts
{
    private readonly PoolRuntime _pool;
    private readonly ILoadBalancer _balancer;
    private readonly PickContext _context;
    private readonly int _attempts;
    private FailedBackends _failed;
    private int _attempt;

    /// <param name="sticky">The backend persistence placed the request on, if any: tried first.</param>
    public BackendAttempts(PoolRuntime pool, ILoadBalancer balancer, in PickContext context, BackendState? sticky)
    {
        _pool = pool;
        _balancer = balancer;
        _context = context;
        Sticky = sticky;
        _attempts = 1 + pool.Config.Retries;
    }

    public readonly BackendState? Sticky { get; }

    /// <summary>How many times another backend was tried after a failed attempt.</summary>
    public int Retries { get; private set; }

    /// <summary>What a client is told when <see cref="Next"/> finds no backend.</summary>
    public readonly string NoBackendReason => _pool.Config.MaxConnectionsPerBackend > 0
        ? "every backend is at maxConnectionsPerBackend"
        : "no backend available";

    /// <summary>
    /// Picks and enters the next backend (entered at the pick: concurrent picks under
    /// least-connections see the requests still being opened); null when none can take it. The
    /// caller leaves it when the attempt is over.
    /// </summary>
    public readonly BackendState? Next(AgentMetrics metrics, ILogger logger)
    {
        var backend = _pool.PickAndEnter(_balancer, _context, _failed, Sticky, out var failedOpen);
        FailOpenLog.Note(_pool, failedOpen, metrics, logger);
        return backend;
    }

    /// <summary>
    /// The attempt on <paramref name="backend"/> failed for a reason of the backend's: it counts
    /// against the backend's passive health. True when another backend is to be tried: the retry
    /// rule allows it and attempts are left.
    /// </summary>
    public bool Failed(BackendState backend, HealthMonitor health, string reason, bool retryAllowed)
    {
        health.ReportPassive(backend, false, reason);
        _attempt++;
        if (!retryAllowed || _attempt >= _attempts)
        {
            return false;
        }
        _failed.Add(backend);
        Retries++;
        return true;
    }
}
