using System.Runtime.CompilerServices;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>Reads the Events table: a page for ListEvents, and a follow for WatchEvents.</summary>
public sealed class EventReader(IEventStore store, EventFeed feed)
{
    private const int FollowBatch = 500;

    /// <summary>Oldest first: the newest <paramref name="limit"/> matches, or with <paramref name="afterId"/> the first ones after it.</summary>
    public async Task<IReadOnlyList<EventEntity>> ListAsync(EventFilter filter, long afterId, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return afterId > 0
            ? await store.ListAfterAsync(filter, afterId, limit, cancellationToken).ConfigureAwait(false)
            : await store.ListNewestAsync(filter, limit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The matches after <paramref name="afterId"/>, then each new one as it is committed, until
    /// cancelled. Waits on <see cref="EventFeed"/> between reads, never polls.
    /// </summary>
    public async IAsyncEnumerable<EventEntity> FollowAsync(EventFilter filter, long afterId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var after = afterId;
        while (true)
        {
            // Everything up to this id is committed before the read below starts, so the read
            // misses nothing at or below it; waiting for a higher id then loses no event.
            var committed = feed.LastId;
            var rows = await store.ListAfterAsync(filter, after, FollowBatch, cancellationToken).ConfigureAwait(false);
            foreach (var row in rows)
            {
                yield return row;
                after = row.Id;
            }
            if (rows.Count < FollowBatch)
            {
                await feed.WaitAsync(Math.Max(committed, after), cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
