using System.Collections.Concurrent;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// What agents said (ACKs, NACKs, being alive) that their rows do not hold yet. The stream's
/// receive loop records here, in memory; <see cref="AgentRegistry.FlushAsync"/> writes it in
/// bulk about once a second, and any single-row write of the agent takes it along. A SQLite read
/// and save per ACK was most of the control plane's CPU per push at 1,000 agents (issue 19).
/// </summary>
public sealed class AgentStateBuffer : Management.IAgentStateOverlay
{
    private readonly ConcurrentDictionary<string, PendingAgentState> _pending = new(StringComparer.Ordinal);

    // Health views of agents that report (or did until lately), the newest truth about their rows.
    private readonly ConcurrentDictionary<string, AgentHealthView> _health = new(StringComparer.Ordinal);

    /// <summary>Agents with something not yet written.</summary>
    public int Count => _pending.Count;

    public void Record(string agent, Func<PendingAgentState, PendingAgentState> change) =>
        _pending.AddOrUpdate(agent, static (_, c) => c(PendingAgentState.Empty), static (_, old, c) => c(old), change);

    public PendingAgentState? Get(string agent) => _pending.GetValueOrDefault(agent);

    /// <summary>Up to <paramref name="max"/> agents' pending state, left in place until <see cref="Written"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, PendingAgentState>> Peek(int max) => _pending.Take(max).ToList();

    /// <summary>
    /// <paramref name="state"/> is in the agent's row now: forgotten, unless something newer was
    /// recorded meanwhile (that waits for the next write).
    /// </summary>
    public void Written(string agent, PendingAgentState state) => _pending.TryRemove(new KeyValuePair<string, PendingAgentState>(agent, state));

    public AgentHealthView? HealthOf(string agent) => _health.GetValueOrDefault(agent);

    /// <summary>Adds <paramref name="view"/> unless another report added one first; returns the one in place.</summary>
    public AgentHealthView AddHealth(string agent, AgentHealthView view) => _health.GetOrAdd(agent, view);

    public IReadOnlyList<KeyValuePair<string, AgentHealthView>> Health => _health.ToList();

    public void ForgetHealth(string agent, AgentHealthView view) => _health.TryRemove(new KeyValuePair<string, AgentHealthView>(agent, view));

    /// <summary>Replaces the rows of agents whose view is not written yet with that view.</summary>
    public List<BackendHealthEntity> OverlayHealth(List<BackendHealthEntity> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var unwritten = _health.Where(h => h.Value.Dirty).ToList();
        if (unwritten.Count == 0)
        {
            return rows;
        }
        var names = unwritten.Select(h => h.Key).ToHashSet(StringComparer.Ordinal);
        rows.RemoveAll(r => names.Contains(r.Agent));
        rows.AddRange(unwritten.SelectMany(h => h.Value.Copy().Rows));
        return rows;
    }

    public void Overlay(AgentEntity agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        if (_pending.TryGetValue(agent.Name, out var state))
        {
            state.ApplyTo(agent);
        }
    }
}

/// <summary>An agent's observed state not yet written; null fields have nothing new.</summary>
public sealed record PendingAgentState(DateTime? LastSeen, AppliedSnapshot? Applied, string? LastNackError)
{
    public static readonly PendingAgentState Empty = new(null, null, null);

    public void ApplyTo(AgentEntity agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        // Other writes (connect, disconnect) set LastSeen too: it never moves backwards.
        if (LastSeen is { } seen && seen > agent.LastSeen)
        {
            agent.LastSeen = seen;
        }
        if (Applied is { } applied)
        {
            agent.AppliedRevision = applied.Revision;
            agent.AppliedHash = applied.Hash;
            agent.SetListenerResults(applied.Listeners);
        }
        if (LastNackError is not null)
        {
            agent.LastNackError = LastNackError;
        }
    }
}

/// <summary>What an agent's latest ACK said it applied.</summary>
public sealed record AppliedSnapshot(long Revision, string Hash, IReadOnlyList<ListenerResultRecord> Listeners);
