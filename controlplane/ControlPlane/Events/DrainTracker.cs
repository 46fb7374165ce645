using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>A backend in state draining, as the store has it.</summary>
/// <param name="ResourceVersion">Its version now; the version at which it was first seen draining is the drain's start.</param>
/// <param name="Tiers">The tiers whose listeners route to its pool: their agents are the ones that drain it.</param>
/// <param name="AlreadyFinished">A DrainFinished was recorded for this drain before a restart.</param>
public sealed record DrainingBackend(string Name, string Pool, long ResourceVersion, IReadOnlyList<string> Tiers, bool AlreadyFinished = false);

/// <summary>
/// Decides when a drain is finished: every connected agent of the tiers that use the backend's
/// pool has reported nothing in flight for it in a health report sent after it applied the
/// drain. Reported once per drain; in memory, fed by the store (which backends drain) and by
/// health reports (what is in flight).
/// </summary>
public sealed class DrainTracker
{
    private sealed class Drain(long startRevision, bool finished)
    {
        public long StartRevision { get; } = startRevision;
        public string Pool { get; set; } = "";
        public IReadOnlyList<string> Tiers { get; set; } = [];
        public HashSet<string> Idle { get; } = new(StringComparer.Ordinal);
        public bool Finished { get; set; } = finished;
    }

    private readonly Lock _gate = new();
    private Dictionary<string, Drain> _drains = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="backend"/> is a drain in progress or finished (the store watcher looks only new ones up).</summary>
    public bool IsTracking(string backend)
    {
        lock (_gate)
        {
            return _drains.ContainsKey(backend);
        }
    }

    /// <summary>Replaces the set of draining backends; a drain that continues keeps its start and progress.</summary>
    public void Update(IEnumerable<DrainingBackend> draining)
    {
        ArgumentNullException.ThrowIfNull(draining);
        lock (_gate)
        {
            var next = new Dictionary<string, Drain>(StringComparer.Ordinal);
            foreach (var backend in draining)
            {
                if (!_drains.TryGetValue(backend.Name, out var drain))
                {
                    drain = new Drain(backend.ResourceVersion, backend.AlreadyFinished);
                }
                drain.Pool = backend.Pool;
                drain.Tiers = backend.Tiers;
                next[backend.Name] = drain;
            }
            _drains = next;
        }
    }

    /// <summary>Takes one health report of <paramref name="agent"/> and returns the DrainFinished events it completes.</summary>
    public IReadOnlyList<EventDraft> Observe(string agent, string tier, long ackedRevision, HealthReport report, Func<string, IReadOnlyCollection<string>> connectedAgents)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(connectedAgents);
        lock (_gate)
        {
            if (_drains.Count == 0)
            {
                return [];
            }
            var inFlight = new Dictionary<(string Pool, string Backend), long>();
            foreach (var backend in report.Backends)
            {
                inFlight.TryAdd((backend.Pool, backend.Backend), backend.InFlight);
            }
            var finished = new List<EventDraft>();
            foreach (var (name, drain) in _drains.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                // An agent that has not applied the drain yet still gives the backend new work.
                if (drain.Finished || !drain.Tiers.Contains(tier) || ackedRevision < drain.StartRevision)
                {
                    continue;
                }
                if (inFlight.TryGetValue((drain.Pool, name), out var count))
                {
                    if (count == 0)
                    {
                        drain.Idle.Add(agent);
                    }
                    else
                    {
                        drain.Idle.Remove(agent);
                    }
                }
                else if (report.Full)
                {
                    // The agent does not have the backend at all: nothing of it is in flight there.
                    drain.Idle.Add(agent);
                }
                var agents = drain.Tiers.SelectMany(connectedAgents).Distinct(StringComparer.Ordinal).ToList();
                if (agents.Count > 0 && agents.All(drain.Idle.Contains))
                {
                    drain.Finished = true;
                    finished.Add(EventDraft.Normal(EventReasons.DrainFinished, EventKinds.Backend, name, "",
                        $"Nothing in flight on the {agents.Count} agent(s) of tier {string.Join(", ", drain.Tiers)} (pool {drain.Pool})"));
                }
            }
            return finished;
        }
    }
}
