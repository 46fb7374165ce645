using LoadBalancer.ControlPlane.Sync;
using Prometheus;

namespace LoadBalancer.ControlPlane.Observability;

/// <summary>
/// Sets lb_controlplane_agent_in_sync from the live streams at each scrape, so that an agent
/// stuck on an old snapshot (the "not ACKing the current revision" alert) shows without any
/// bookkeeping on the sync path. It touches only the series it set itself: several control
/// planes in one process (the tests) share the static registry.
/// </summary>
internal sealed class AgentSyncGauge(AgentRegistry registry, ControlPlaneMetrics metrics) : IHostedService
{
    private readonly Lock _gate = new();
    private HashSet<(string Tier, string Agent)> _set = [];
    private bool _stopped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // prometheus-net cannot remove a callback: after StopAsync it only clears what it set.
        Metrics.DefaultRegistry.AddBeforeCollectCallback(Update);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _stopped = true;
            Replace([]);
        }
        return Task.CompletedTask;
    }

    private void Update()
    {
        lock (_gate)
        {
            if (!_stopped)
            {
                Replace(registry.SyncStates());
            }
        }
    }

    private void Replace(IReadOnlyList<(string Name, string Tier, bool InSync)> states)
    {
        var now = new HashSet<(string, string)>();
        foreach (var (name, tier, inSync) in states)
        {
            metrics.AgentInSync.WithLabels(tier, name).Set(inSync ? 1 : 0);
            now.Add((tier, name));
        }
        foreach (var (tier, agent) in _set.Where(s => !now.Contains(s)))
        {
            metrics.AgentInSync.RemoveLabelled(tier, agent);
        }
        _set = now;
    }
}
