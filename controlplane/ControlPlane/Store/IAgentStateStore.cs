using LoadBalancer.ControlPlane.Access;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// Agents' observed state (their rows and their views of backend health): outside the revision
/// and the change log, last writer wins, written in bulk by the agent registry.
/// </summary>
public interface IAgentStateStore
{
    /// <summary>The tier the agent is registered with, or null for a name not registered.</summary>
    Task<string?> TierOfAsync(string agent, CancellationToken cancellationToken = default);

    Task<int> CountInTierAsync(string tier, CancellationToken cancellationToken = default);

    /// <summary>The tier's agents, the one seen longest ago first.</summary>
    Task<IReadOnlyList<(string Name, bool Connected)>> AgentsOfTierAsync(string tier, CancellationToken cancellationToken = default);

    /// <summary>Agents disconnected and last seen before <paramref name="cutoff"/>.</summary>
    Task<IReadOnlyList<string>> DisconnectedBeforeAsync(DateTime cutoff, CancellationToken cancellationToken = default);

    /// <summary>Deletes the agents' health rows, and their own rows unless they are connected.</summary>
    Task ForgetAsync(IReadOnlyCollection<string> agents, CancellationToken cancellationToken = default);

    /// <summary>Deletes a disconnected agent's row with an audit entry; refuses a connected one. Returns the revision.</summary>
    Task<long> DeleteAsync(string agent, bool dryRun, Caller caller, DateTime at, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<BackendHealthEntity>> HealthOfAsync(string agent, CancellationToken cancellationToken = default);

    /// <summary>Changes the agent's row, making it first when there is none.</summary>
    Task UpsertAsync(string agent, Action<AgentEntity> change, CancellationToken cancellationToken = default);

    /// <summary>Changes the rows that exist, in one transaction; agents without a row are skipped.</summary>
    Task UpdateExistingAsync(IReadOnlyList<(string Agent, Action<AgentEntity> Change)> changes, CancellationToken cancellationToken = default);

    /// <summary>Replaces each agent's health rows with the given ones, in one transaction; agents no longer registered get none.</summary>
    Task ReplaceHealthAsync(IReadOnlyList<(string Agent, IReadOnlyList<BackendHealthEntity> Rows)> views, CancellationToken cancellationToken = default);

    Task MarkAllDisconnectedAsync(CancellationToken cancellationToken = default);
}
