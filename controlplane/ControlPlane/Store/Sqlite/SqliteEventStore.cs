using LoadBalancer.ControlPlane.Events;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

public sealed class SqliteEventStore(IDbContextFactory<LbDbContext> dbFactory) : IEventStore
{
    public Task<long> AppendAsync(IReadOnlyList<EventDraft> drafts, EventOptions options, DateTime now, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        long lastId = 0;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var foldFrom = now - options.FoldWindow;
        foreach (var draft in drafts)
        {
            var previous = await db.Events
                .Where(e => e.Kind == draft.Kind && e.Name == draft.Name && e.Reason == draft.Reason && e.Type == draft.Type
                    && e.Agent == draft.Agent && e.Message == draft.Message && e.LastAt >= foldFrom)
                .OrderByDescending(e => e.Id)
                .FirstOrDefaultAsync(cancellationToken)
                .ConfigureAwait(false);
            var row = new EventEntity
            {
                Type = draft.Type,
                Reason = draft.Reason,
                Kind = draft.Kind,
                Name = draft.Name,
                Agent = draft.Agent,
                Message = draft.Message,
                Count = previous is null ? 1 : previous.Count + 1,
                FirstAt = previous?.FirstAt ?? now,
                LastAt = now,
            };
            db.Events.Add(row);
            if (previous is not null)
            {
                // A new id rather than an update in place: watchers only look forward.
                db.Events.Remove(previous);
            }
            // Saved per draft, so a repeat later in the same batch folds into this one.
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            lastId = row.Id;
        }
        await TrimAsync(db, options, now, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return lastId;
    });

    public Task TrimAsync(EventOptions options, DateTime now, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await TrimAsync(db, options, now, cancellationToken).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<EventEntity>> ListAfterAsync(EventFilter filter, long afterId, int limit, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return (IReadOnlyList<EventEntity>)await Matching(db, filter).Where(e => e.Id > afterId).OrderBy(e => e.Id).Take(limit).ToListAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<EventEntity>> ListNewestAsync(EventFilter filter, int limit, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var newest = await Matching(db, filter).OrderByDescending(e => e.Id).Take(limit).ToListAsync(cancellationToken).ConfigureAwait(false);
        newest.Reverse();
        return (IReadOnlyList<EventEntity>)newest;
    });

    public Task<bool> DrainFinishedSinceAsync(string backend, DateTime since, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return await db.Events.AnyAsync(e => e.Kind == EventKinds.Backend && e.Name == backend
            && e.Reason == EventReasons.DrainFinished && e.LastAt >= since, cancellationToken).ConfigureAwait(false);
    });

    private static IQueryable<EventEntity> Matching(LbDbContext db, EventFilter filter)
    {
        var events = db.Events.AsNoTracking();
        if (filter.Kind.Length > 0)
        {
            events = events.Where(e => e.Kind == filter.Kind);
        }
        if (filter.Name.Length > 0)
        {
            events = events.Where(e => e.Name == filter.Name);
        }
        if (filter.Agent.Length > 0)
        {
            events = events.Where(e => e.Agent == filter.Agent);
        }
        if (filter.Type.Length > 0)
        {
            events = events.Where(e => e.Type == filter.Type);
        }
        return events;
    }

    private static async Task TrimAsync(LbDbContext db, EventOptions options, DateTime now, CancellationToken cancellationToken)
    {
        var expired = now - options.MaxAge;
        await db.Events.Where(e => e.LastAt < expired).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        // Ids increase with every write, so the newest MaxCount rows are the highest ids.
        var oldestKept = await db.Events.OrderByDescending(e => e.Id).Skip(options.MaxCount - 1).Select(e => (long?)e.Id).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (oldestKept is { } id)
        {
            await db.Events.Where(e => e.Id < id).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
