using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Config;

/// <summary>
/// Applies a validated snapshot make-before-break: certificates, then pools, then listeners and
/// routes, then the removal of pools no longer used. Holds the config in force, which readiness and /config report.
/// </summary>
internal sealed partial class ConfigApplier(PoolRegistry pools, ListenerManager listeners, ILogger<ConfigApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TierConfig _current = TierConfig.Empty;

    public TierConfig Current => Volatile.Read(ref _current);

    /// <summary>True once a snapshot (from the control plane or the cache) is being served.</summary>
    public bool HasConfig => Current.Revision > 0;

    public async Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(TierConfig config, CancellationToken cancellationToken)
    {
        // Socket continuations run inline on the socket engine's threads (Program.cs): building
        // balancer tables (tens of ms for a large Maglev pool) must not hold up the traffic of
        // the connections served there, so the apply runs on the thread pool.
        await Task.Yield();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Pools leaving the snapshot stay until the listeners stop routing to them: a route
            // moved to another pool must never point at neither for a moment.
            var wanted = config.Pools.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            var leaving = pools.Pools.Select(p => p.Config).Where(p => !wanted.Contains(p.Name)).ToList();
            pools.Apply([.. config.Pools, .. leaving]);
            var outcomes = await listeners.ApplyAsync(config.Listeners, config.Certificates, cancellationToken).ConfigureAwait(false);
            if (leaving.Count > 0)
            {
                pools.Apply(config.Pools);
            }
            Volatile.Write(ref _current, config);
            var failed = outcomes.Count(o => !o.Programmed);
            Log.Applied(logger, config.Revision, config.Listeners.Count, config.Pools.Count, failed);
            return outcomes;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Applied revision {Revision}: {Listeners} listeners, {Pools} pools, {Failed} listeners failed")]
        public static partial void Applied(ILogger logger, long revision, int listeners, int pools, int failed);
    }
}
