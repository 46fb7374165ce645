using System.Collections.Frozen;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// Holds every pool of the applied snapshot. Readers (the request path) take the current map
/// without a lock; an apply swaps in a new map. A pool that did not change keeps its runtime
/// object, so its counters, balancer state and connections are untouched.
/// </summary>
public sealed partial class PoolRegistry(BackendActivity activity, ILogger<PoolRegistry> logger, TimeProvider time)
{
    private FrozenDictionary<string, PoolRuntime> _pools = FrozenDictionary<string, PoolRuntime>.Empty;

    /// <summary>Raised after an apply with the pools now in force; health checking follows it.</summary>
    public event Action<IReadOnlyCollection<PoolRuntime>>? PoolsChanged;

    public IReadOnlyCollection<PoolRuntime> Pools => Volatile.Read(ref _pools).Values;

    public PoolRuntime? Find(string name) =>
        Volatile.Read(ref _pools).TryGetValue(name, out var pool) ? pool : null;

    public void Apply(IReadOnlyList<PoolConfig> configs)
    {
        var current = Volatile.Read(ref _pools);
        var next = new Dictionary<string, PoolRuntime>(StringComparer.Ordinal);
        var retired = new List<HttpMessageInvoker>();

        foreach (var config in configs)
        {
            current.TryGetValue(config.Name, out var previous);
            if (previous is not null && previous.Config == config)
            {
                next[config.Name] = previous;
                continue;
            }
            var runtime = Build(config, previous, retired);
            if (!runtime.Warming.IsWarm && config.HealthCheck is { } check)
            {
                // The health monitor ends warming early, once every backend has a first result.
                runtime.Warming.StartBound(Health.HealthMonitor.WarmingBound(check, config.Backends.Count), time);
            }
            next[config.Name] = runtime;
            Log.PoolApplied(logger, config.Name, config.Algorithm, config.Backends.Count);
        }

        foreach (var (name, pool) in current)
        {
            if (!next.ContainsKey(name) && pool.HttpClient is not null)
            {
                retired.Add(pool.HttpClient);
            }
        }

        Volatile.Write(ref _pools, next.ToFrozenDictionary(StringComparer.Ordinal));
        PoolsChanged?.Invoke(next.Values);
        ScheduleDrains(current, next);

        if (retired.Count > 0)
        {
            // Requests already forwarded keep their client until they finish; dispose it later.
            var delay = current.Values.Select(p => p.Config.DrainTimeout).Concat(configs.Select(c => c.DrainTimeout)).DefaultIfEmpty(TimeSpan.FromSeconds(30)).Max() + TimeSpan.FromSeconds(5);
            _ = DisposeLaterAsync(retired, delay);
        }
    }

    private PoolRuntime Build(PoolConfig config, PoolRuntime? previous, List<HttpMessageInvoker> retired)
    {
        var previousBackends = previous?.Backends.ToDictionary(b => (b.Name, b.Host, b.Port)) ?? [];
        var backends = new BackendState[config.Backends.Count];
        for (var i = 0; i < backends.Length; i++)
        {
            var spec = config.Backends[i];
            if (!previousBackends.TryGetValue((spec.Name, spec.Host, spec.Port), out var state))
            {
                state = new BackendState(config.Name, spec.Name, spec.Host, spec.Port, spec.Weight)
                {
                    // Without active checks a backend is presumed healthy; with them it waits for a first pass.
                    // Afterwards the health monitor alone changes Health.
                    Health = config.HealthCheck is null ? BackendHealth.Healthy : BackendHealth.Unknown,
                };
            }
            state.Weight = spec.Weight;
            var admin = spec.State switch
            {
                "draining" => BackendAdminState.Draining,
                "disabled" => BackendAdminState.Disabled,
                _ => BackendAdminState.Enabled,
            };
            if (admin == BackendAdminState.Draining && state.AdminState != BackendAdminState.Draining)
            {
                state.DrainDeadline = Environment.TickCount64 + (long)config.DrainTimeout.TotalMilliseconds;
            }
            state.AdminState = admin;
            backends[i] = state;
        }

        var balancer = LoadBalancerFactory.Create(
            new LoadBalancingOptions(config.Algorithm, config.HashOn),
            backends,
            previous?.Balancer);

        ILoadBalancer? sticky = config.SessionPersistence?.Type is "header" or "source-ip"
            ? LoadBalancerFactory.Create(new LoadBalancingOptions(LoadBalancingAlgorithms.ConsistentHash, "source-ip"), backends, previous?.StickyBalancer)
            : null;

        HttpMessageInvoker? client = null;
        if (config.Protocol != "tcp")
        {
            if (previous?.HttpClient is not null && PoolRuntime.TransportKey(previous.Config) == PoolRuntime.TransportKey(config))
            {
                client = previous.HttpClient;
            }
            else
            {
                if (previous?.HttpClient is not null)
                {
                    retired.Add(previous.HttpClient);
                }
                client = PoolRuntime.CreateHttpClient(config);
            }
        }
        else if (previous?.HttpClient is not null)
        {
            retired.Add(previous.HttpClient);
        }

        return new PoolRuntime(config, backends, balancer, sticky, client, previous);
    }

    /// <summary>
    /// Backends that stopped taking new work (drained, disabled or removed) keep their in-flight
    /// requests and connections until the pool's drainTimeout; then what is left is closed.
    /// </summary>
    private void ScheduleDrains(FrozenDictionary<string, PoolRuntime> before, Dictionary<string, PoolRuntime> after)
    {
        foreach (var (name, old) in before)
        {
            after.TryGetValue(name, out var now);
            if (ReferenceEquals(old, now))
            {
                // Kept whole: none of its backends changed.
                continue;
            }
            var stillEnabled = now?.Backends.Where(b => b.AdminState == BackendAdminState.Enabled).ToHashSet(ReferenceEqualityComparer.Instance) ?? [];
            var timeout = (now ?? old).Config.DrainTimeout;
            foreach (var backend in old.Backends)
            {
                if (stillEnabled.Contains(backend) || backend.InFlight == 0)
                {
                    continue;
                }
                var wasEnabled = old.Config.Backends.Any(b => b.Name == backend.Name && b.State == "enabled");
                if (wasEnabled || now is null || !now.Backends.Contains(backend))
                {
                    Log.Draining(logger, name, backend.Name, backend.InFlight, timeout);
                    _ = DrainAsync(backend, timeout);
                }
            }
        }
    }

    private async Task DrainAsync(BackendState backend, TimeSpan timeout)
    {
        var deadline = time.GetUtcNow() + timeout;
        // Done early when nothing is in flight any more.
        while (backend.InFlight > 0 && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time).ConfigureAwait(false);
            if (backend.AdminState == BackendAdminState.Enabled && Find(backend.Pool)?.Backends.Contains(backend) == true)
            {
                return;
            }
        }
        var closed = activity.AbortAll(backend);
        Log.Drained(logger, backend.Pool, backend.Name, closed);
    }

    private async Task DisposeLaterAsync(List<HttpMessageInvoker> clients, TimeSpan delay)
    {
        await Task.Delay(delay, time).ConfigureAwait(false);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Draining {Pool}/{Backend}: {InFlight} in flight, closing what is left after {Timeout}")]
        public static partial void Draining(ILogger logger, string pool, string backend, long inFlight, TimeSpan timeout);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Drain of {Pool}/{Backend} finished; {Closed} requests or connections closed at the deadline")]
        public static partial void Drained(ILogger logger, string pool, string backend, int closed);

        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Pool {Pool} applied: {Algorithm}, {Backends} backends")]
        public static partial void PoolApplied(ILogger logger, string pool, string algorithm, int backends);
    }
}
