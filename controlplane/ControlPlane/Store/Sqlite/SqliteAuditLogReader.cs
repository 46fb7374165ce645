using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

public sealed class SqliteAuditLogReader(IDbContextFactory<LbDbContext> dbFactory) : IAuditLogReader
{
    public Task<IReadOnlyList<ChangeLogEntry>> ListAsync(string kind, string name, long beforeId, int limit, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        IQueryable<ChangeLogEntry> query = db.ChangeLog.AsNoTracking();
        if (kind.Length > 0)
        {
            query = query.Where(e => e.Kind == kind);
        }
        if (name.Length > 0)
        {
            query = query.Where(e => e.Name == name);
        }
        if (beforeId > 0)
        {
            query = query.Where(e => e.Id < beforeId);
        }
        return (IReadOnlyList<ChangeLogEntry>)await query.OrderByDescending(e => e.Id).Take(limit).ToListAsync(cancellationToken).ConfigureAwait(false);
    });
}
