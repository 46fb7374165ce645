using System.Runtime.CompilerServices;
using LoadBalancer.ControlPlane.Store;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>Reads the Events table: a page for ListEvents, and a follow for WatchEvents.</summary>
public sealed class EventReader(IDbContextFactory<LbDbContext> dbFactory, EventFeed feed)
{
    private const int FollowBatch = 500;

    /// <summary>Oldest first: the newest <paramref name="limit"/> matches, or with <paramref name="afterId"/> the first ones after it.</summary>
    public async Task<IReadOnlyList<EventEntity>> ListAsync(EventFilter filter, long afterId, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var query = filter.Apply(db.Events.AsNoTracking());
        if (afterId > 0)
        {
            return await query.Where(e => e.Id > afterId).OrderBy(e => e.Id).Take(limit).ToListAsync(cancellationToken).ConfigureAwait(false);
        }
        var newest = await query.OrderByDescending(e => e.Id).Take(limit).ToListAsync(cancellationToken).ConfigureAwait(false);
        newest.Reverse();
        return newest;
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
            List<EventEntity> rows;
            await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false))
            {
                rows = await filter.Apply(db.Events.AsNoTracking()).Where(e => e.Id > after).OrderBy(e => e.Id).Take(FollowBatch)
                    .ToListAsync(cancellationToken).ConfigureAwait(false);
            }
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
