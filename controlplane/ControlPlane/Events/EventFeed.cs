using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>
/// Tells watchers that events up to an id are committed, so a watch stream waits in memory
/// instead of polling the table. The same monotonic counter with waiters as the store's feed.
/// </summary>
public sealed class EventFeed
{
    private readonly StoreChangeFeed _ids = new();

    /// <summary>The highest committed event id this process has seen (0 before any).</summary>
    public long LastId => _ids.Revision;

    public void Notify(long id) => _ids.Notify(id);

    /// <summary>Completes once an event with an id greater than <paramref name="afterId"/> is committed.</summary>
    public Task<long> WaitAsync(long afterId, CancellationToken cancellationToken) => _ids.WaitAsync(afterId, cancellationToken);
}
