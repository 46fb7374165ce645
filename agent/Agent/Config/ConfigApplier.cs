using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Config;

/// <summary>
/// Applies a validated snapshot make-before-break: certificates, then pools, then listeners and
/// routes. Holds the config in force, which readiness and /config report.
/// </summary>
internal sealed partial class ConfigApplier(PoolRegistry pools, ListenerManager listeners, ILogger<ConfigApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AgentConfig _current = AgentConfig.Empty;

    public AgentConfig Current => Volatile.Read(ref _current);

    /// <summary>True once a snapshot (from the control plane or the cache) is being served.</summary>
    public bool HasConfig => Current.Revision > 0;

    public async Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(AgentConfig config, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            pools.Apply(config.Pools);
            var outcomes = await listeners.ApplyAsync(config.Listeners, config.Certificates, cancellationToken).ConfigureAwait(false);
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
