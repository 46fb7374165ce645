using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>
/// Turns what agents tell the sync service into events. Only transitions become events (a
/// backend turning unhealthy, a listener failing or coming back, a pool failing open), never
/// the periodic summaries that repeat them; the previous state comes from the observed rows
/// the registry is about to overwrite, so a control-plane restart invents nothing.
/// </summary>
public sealed class AgentEvents(EventRecorder recorder, DrainTracker drains, IHostApplicationLifetime lifetime)
{
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";
    public const string Unknown = "unknown";

    public Task ConnectedAsync(string agent, string tier, string peer, string softwareVersion) =>
        recorder.RecordAsync(EventDraft.Normal(EventReasons.AgentConnected, EventKinds.Agent, agent, agent,
            $"Connected from {PeerHost(peer)} (tier {tier}, version {(softwareVersion.Length == 0 ? "unknown" : softwareVersion)})"));

    /// <param name="reason">Why the stream ended, e.g. "no message for 60 seconds".</param>
    public Task LostAsync(string agent, string tier, string reason)
    {
        // Streams end when the control plane stops: the agents are not lost, the control plane is.
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }
        return recorder.RecordAsync(EventDraft.Warning(EventReasons.AgentLost, EventKinds.Agent, agent, agent, $"Lost (tier {tier}): {reason}"));
    }

    /// <summary>The agent left on purpose (e.g. SIGTERM): said Goodbye or half-closed its stream.</summary>
    public Task DisconnectedAsync(string agent, string tier, string reason)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }
        return recorder.RecordAsync(EventDraft.Normal(EventReasons.AgentDisconnected, EventKinds.Agent, agent, agent, $"Disconnected (tier {tier}): {reason}"));
    }

    public Task NackedAsync(string agent, long revision, string error) =>
        recorder.RecordAsync(EventDraft.Warning(EventReasons.SnapshotRejected, EventKinds.Agent, agent, agent, $"Rejected revision {revision}: {error}"));

    public Task AckedAsync(string agent, IReadOnlyList<ListenerResultRecord> before, IReadOnlyList<ListenerResultRecord> after) =>
        recorder.RecordAsync(ListenerTransitions(agent, before, after));

    /// <param name="before">The agent's view of each (pool, backend) before this report: unknown, healthy or unhealthy.</param>
    /// <param name="ackedRevision">The newest revision the agent has applied.</param>
    /// <param name="connectedAgents">The names of the agents of a tier with an open stream.</param>
    public Task HealthReportedAsync(string agent, string tier, long ackedRevision, IReadOnlyDictionary<(string Pool, string Backend), string> before,
        HealthReport report, Func<string, IReadOnlyCollection<string>> connectedAgents)
    {
        ArgumentNullException.ThrowIfNull(report);
        var drafts = HealthTransitions(agent, before, report).ToList();
        drafts.AddRange(drains.Observe(agent, tier, ackedRevision, report, connectedAgents));
        return recorder.RecordAsync(drafts);
    }

    /// <summary>The state the registry stores for a reported one: anything but healthy or unhealthy is unknown.</summary>
    public static string Normalize(string state) => state is Healthy or Unhealthy ? state : Unknown;

    /// <summary>
    /// BackendUnhealthy when a backend turns unhealthy (with the agent's reason), BackendHealthy
    /// when an unhealthy one recovers; FailOpen / FailOpenEnded when no backend of a pool is
    /// healthy on this agent any more, or one is again. A first healthy report is no event.
    /// </summary>
    internal static IReadOnlyList<EventDraft> HealthTransitions(string agent, IReadOnlyDictionary<(string Pool, string Backend), string> before, HealthReport report)
    {
        var drafts = new List<EventDraft>();
        // A full report replaces the agent's view; a transition report updates it.
        var after = report.Full ? new Dictionary<(string Pool, string Backend), string>() : before.ToDictionary();
        var seen = new HashSet<(string, string)>();
        foreach (var backend in report.Backends)
        {
            var key = (backend.Pool, backend.Backend);
            if (!seen.Add(key))
            {
                continue;
            }
            var state = Normalize(backend.State);
            var previous = before.GetValueOrDefault(key, Unknown);
            after[key] = state;
            if (state == Unhealthy && previous != Unhealthy)
            {
                var why = backend.Reason.Length > 0 ? backend.Reason : "no reason given";
                drafts.Add(EventDraft.Warning(EventReasons.BackendUnhealthy, EventKinds.Backend, backend.Backend, agent, $"Unhealthy in pool {backend.Pool}: {why}"));
            }
            else if (state == Healthy && previous == Unhealthy)
            {
                drafts.Add(EventDraft.Normal(EventReasons.BackendHealthy, EventKinds.Backend, backend.Backend, agent, $"Healthy again in pool {backend.Pool}"));
            }
        }
        foreach (var pool in before.Keys.Concat(after.Keys).Select(k => k.Pool).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var was = FailsOpen(before, pool);
            var now = FailsOpen(after, pool);
            if (now && !was)
            {
                drafts.Add(EventDraft.Warning(EventReasons.FailOpen, EventKinds.Pool, pool, agent,
                    "No backend is healthy on this agent: it fails open, spreading traffic over every enabled backend"));
            }
            else if (was && !now)
            {
                drafts.Add(EventDraft.Normal(EventReasons.FailOpenEnded, EventKinds.Pool, pool, agent, "A backend is healthy again: fail-open ended"));
            }
        }
        return drafts;
    }

    /// <summary>ListenerFailed when a listener stops being programmed or fails for a new reason; ListenerProgrammed when it recovers.</summary>
    internal static IReadOnlyList<EventDraft> ListenerTransitions(string agent, IReadOnlyList<ListenerResultRecord> before, IReadOnlyList<ListenerResultRecord> after)
    {
        var previous = new Dictionary<string, ListenerResultRecord>(StringComparer.Ordinal);
        foreach (var result in before)
        {
            previous[result.Name] = result;
        }
        var drafts = new List<EventDraft>();
        foreach (var result in after)
        {
            var old = previous.GetValueOrDefault(result.Name);
            if (!result.Programmed && (old is null || old.Programmed || old.Reason != result.Reason))
            {
                drafts.Add(EventDraft.Warning(EventReasons.ListenerFailed, EventKinds.Listener, result.Name, agent,
                    $"Not programmed: {result.Reason ?? "no reason given"}"));
            }
            else if (result.Programmed && old is { Programmed: false })
            {
                drafts.Add(EventDraft.Normal(EventReasons.ListenerProgrammed, EventKinds.Listener, result.Name, agent,
                    $"Programmed again (it had failed: {old.Reason ?? "no reason given"})"));
            }
        }
        return drafts;
    }

    /// <summary>As the pool status computes it: some backend reported unhealthy and none healthy.</summary>
    private static bool FailsOpen(IReadOnlyDictionary<(string Pool, string Backend), string> view, string pool)
    {
        var states = view.Where(kv => kv.Key.Pool == pool).Select(kv => kv.Value).ToList();
        return states.Contains(Unhealthy) && !states.Contains(Healthy);
    }

    /// <summary>"ipv4:127.0.0.1:50412" -> "127.0.0.1": the source port changes on every reconnect and would defeat folding.</summary>
    internal static string PeerHost(string peer)
    {
        var text = peer;
        if (text.StartsWith("ipv4:", StringComparison.Ordinal) || text.StartsWith("ipv6:", StringComparison.Ordinal))
        {
            text = text[5..];
        }
        var colon = text.LastIndexOf(':');
        if (colon > 0 && colon > text.LastIndexOf(']') && (text.StartsWith('[') || text.IndexOf(':') == colon))
        {
            text = text[..colon];
        }
        return text.Length == 0 ? "unknown" : text;
    }
}
