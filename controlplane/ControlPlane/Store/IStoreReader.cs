namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// Reads of the store. A view is one consistent read: the revision and every row read through
/// it belong together, whatever is written meanwhile, and writers are not blocked by it.
/// </summary>
public interface IStoreReader
{
    /// <summary>Opens a view at the current revision; dispose it to end the read.</summary>
    Task<IStoreView> OpenViewAsync(CancellationToken cancellationToken = default);

    /// <summary>The current revision, read alone.</summary>
    Task<long> RevisionAsync(CancellationToken cancellationToken = default);
}

/// <summary>One consistent read of the store at <see cref="Revision"/>. Rows are detached copies.</summary>
public interface IStoreView : IAsyncDisposable
{
    long Revision { get; }

    /// <summary>Every resource of one kind, ordered by name.</summary>
    Task<IReadOnlyList<T>> ListAsync<T>(CancellationToken cancellationToken = default) where T : ResourceEntity;

    Task<T?> FindAsync<T>(string name, CancellationToken cancellationToken = default) where T : ResourceEntity;

    Task<int> CountAsync<T>(CancellationToken cancellationToken = default) where T : ResourceEntity;

    /// <summary>Every agent's row as last written (see <c>IAgentStateOverlay</c> for what is newer), ordered by name.</summary>
    Task<IReadOnlyList<AgentEntity>> AgentsAsync(CancellationToken cancellationToken = default);

    Task<AgentEntity?> FindAgentAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every agent's view of every backend, ordered by agent.</summary>
    Task<IReadOnlyList<BackendHealthEntity>> BackendHealthAsync(CancellationToken cancellationToken = default);
}
