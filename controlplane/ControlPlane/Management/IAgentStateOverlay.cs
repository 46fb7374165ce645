using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// Agents' observed state that is newer than their rows (ACKs and last-seen times are written in
/// bulk, not one by one): laid over the rows the management API reads, so what it shows is
/// current. The sync service replaces the default registration with its own implementation.
/// </summary>
public interface IAgentStateOverlay
{
    /// <summary>Updates <paramref name="agent"/> (a row read without tracking) with what is not written yet.</summary>
    void Overlay(AgentEntity agent);

    /// <summary><paramref name="rows"/> (read without tracking) with the agents' health views not written yet in place of theirs.</summary>
    List<BackendHealthEntity> OverlayHealth(List<BackendHealthEntity> rows);
}

/// <summary>Used until the sync service is registered: the rows are all there is.</summary>
public sealed class NoAgentStateOverlay : IAgentStateOverlay
{
    public void Overlay(AgentEntity agent)
    {
    }

    public List<BackendHealthEntity> OverlayHealth(List<BackendHealthEntity> rows) => rows;
}
