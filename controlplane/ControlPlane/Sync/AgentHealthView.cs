using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// One agent's view of its backends, held in memory while it reports: a report updates it here
/// and <see cref="AgentRegistry.FlushAsync"/> replaces the agent's rows with it in bulk, instead
/// of a read and a save per report (a health summary every 10 s from each of 1,000 agents).
/// </summary>
public sealed class AgentHealthView(IEnumerable<BackendHealthEntity> rows)
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Pool, string Backend), BackendHealthEntity> _rows = rows.ToDictionary(r => (r.Pool, r.Backend));
    private long _version;
    private long _written;

    /// <summary>Changed since it was last written.</summary>
    public bool Dirty
    {
        get
        {
            lock (_gate)
            {
                return _version != _written;
            }
        }
    }

    /// <summary>
    /// Transitions update their backends, a full summary replaces the whole view (the rules the
    /// rows followed). Returns each backend's state before the report, for the events.
    /// </summary>
    public IReadOnlyDictionary<(string Pool, string Backend), string> Apply(string agent, string tier, HealthReport report, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(report);
        lock (_gate)
        {
            var before = _rows.ToDictionary(r => r.Key, r => r.Value.State);
            var reported = new HashSet<(string, string)>();
            foreach (var backend in report.Backends)
            {
                var key = (backend.Pool, backend.Backend);
                if (!reported.Add(key))
                {
                    continue;
                }
                _rows[key] = new BackendHealthEntity
                {
                    Agent = agent,
                    Pool = backend.Pool,
                    Backend = backend.Backend,
                    Tier = tier,
                    State = AgentEvents.Normalize(backend.State),
                    Reason = LogText.Clip(backend.Reason, 256),
                    Since = backend.ObservedAt?.ToDateTime() ?? now,
                    InFlight = backend.InFlight,
                    ReportedAt = now,
                };
            }
            if (report.Full)
            {
                foreach (var gone in _rows.Keys.Where(k => !reported.Contains(k)).ToList())
                {
                    _rows.Remove(gone);
                }
            }
            _version++;
            return before;
        }
    }

    /// <summary>Copies of the rows (fresh entities, for a context to insert or a reader to show) and the version they are.</summary>
    public (long Version, IReadOnlyList<BackendHealthEntity> Rows) Copy()
    {
        lock (_gate)
        {
            return (_version, _rows.Values.Select(r => new BackendHealthEntity
            {
                Agent = r.Agent,
                Pool = r.Pool,
                Backend = r.Backend,
                Tier = r.Tier,
                State = r.State,
                Reason = r.Reason,
                Since = r.Since,
                InFlight = r.InFlight,
                ReportedAt = r.ReportedAt,
            }).ToList());
        }
    }

    public void WrittenUpTo(long version)
    {
        lock (_gate)
        {
            _written = Math.Max(_written, version);
        }
    }
}
