using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>Reads and compacts the history tables.</summary>
public static class HistoryQueries
{
    /// <summary>The oldest revision that can still be reconstructed (0 on a database that never compacted and started empty).</summary>
    public static async Task<long> OldestKeptAsync(LbDbContext db, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var row = await db.HistoryHorizon.AsNoTracking().SingleOrDefaultAsync(h => h.Id == 1, cancellationToken).ConfigureAwait(false);
        return row?.OldestKept ?? 0;
    }

    /// <summary>
    /// The configuration at <paramref name="revision"/>: per (kind, name) the newest row at or
    /// below it, tombstones left out. The caller checks that the revision is kept.
    /// </summary>
    public static async Task<IReadOnlyList<ResourceHistoryEntity>> StateAtAsync(LbDbContext db, long revision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var history = db.ResourceHistory.AsNoTracking();
        var rows = await history
            .Where(h => h.Revision <= revision && !history.Any(n => n.Kind == h.Kind && n.Name == h.Name && n.Revision > h.Revision && n.Revision <= revision))
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        return rows.Where(r => !r.Deleted).ToList();
    }

    /// <summary>
    /// Moves the horizon up to <paramref name="oldestKept"/> (never down) in its own short
    /// transaction, so that requests for older revisions are refused before any row goes.
    /// </summary>
    public static async Task<bool> RaiseHorizonAsync(LbDbContext db, long oldestKept, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var row = await db.HistoryHorizon.SingleOrDefaultAsync(h => h.Id == 1, cancellationToken).ConfigureAwait(false);
        if (row is null)
        {
            db.HistoryHorizon.Add(new HistoryHorizonEntity { Id = 1, OldestKept = oldestKept });
        }
        else if (row.OldestKept >= oldestKept)
        {
            return false;
        }
        else
        {
            row.OldestKept = oldestKept;
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Deletes at most <paramref name="batch"/> rows that no kept revision needs: a row at or
    /// below <paramref name="oldestKept"/> that a newer row at or below it supersedes, or a
    /// tombstone there (absence says the same). Returns how many went; 0 when done.
    /// </summary>
    public static async Task<int> DeleteUnneededAsync(LbDbContext db, long oldestKept, int batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var history = db.ResourceHistory;
        var doomed = await history.AsNoTracking()
            .Where(h => h.Revision <= oldestKept
                && (h.Deleted || history.Any(n => n.Kind == h.Kind && n.Name == h.Name && n.Revision > h.Revision && n.Revision <= oldestKept)))
            .OrderBy(h => h.Revision)
            .Take(batch)
            .Select(h => new { h.Kind, h.Name, h.Revision })
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        if (doomed.Count == 0)
        {
            return 0;
        }
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var deleted = 0;
        foreach (var row in doomed)
        {
            deleted += await history
                .Where(h => h.Kind == row.Kind && h.Name == row.Name && h.Revision == row.Revision)
                .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>The first revision written at or after <paramref name="sinceUtc"/>, from the change log; null when none was.</summary>
    public static async Task<long?> FirstRevisionSinceAsync(LbDbContext db, DateTime sinceUtc, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        return await db.ChangeLog.AsNoTracking()
            .Where(c => c.At >= sinceUtc && c.Revision > 0)
            .MinAsync(c => (long?)c.Revision, cancellationToken).ConfigureAwait(false);
    }
}
