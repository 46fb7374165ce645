using LoadBalancer.ControlPlane.Access;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

public sealed class SqliteTokenStore(IDbContextFactory<LbDbContext> dbFactory) : ITokenStore
{
    public Task<IReadOnlyList<TokenEntity>> ListAsync(CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return (IReadOnlyList<TokenEntity>)await db.Tokens.AsNoTracking().ToListAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task<TokenEntity?> FindAsync(string id, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return await db.Tokens.AsNoTracking().SingleOrDefaultAsync(t => t.Id == id, cancellationToken).ConfigureAwait(false);
    });

    public Task AddAsync(TokenEntity token, Caller creator, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        db.Tokens.Add(token);
        db.ChangeLog.Add(ResourceStore.AuditEntry(creator, 0, "Token", token.Id, "create", 0, 0, token.CreatedAt));
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task<(TokenEntity? Token, bool Changed)> RevokeAsync(string id, DateTime at, Caller caller, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var row = await db.Tokens.FindAsync([id], cancellationToken).ConfigureAwait(false);
        if (row is null || row.RevokedAt is not null)
        {
            return (row, false);
        }
        row.RevokedAt = at;
        db.ChangeLog.Add(ResourceStore.AuditEntry(caller, 0, "Token", row.Id, "revoke", 0, 0, at));
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return (row, true);
    });

    public Task SaveLastUsedAsync(IReadOnlyDictionary<string, DateTime> lastUsed, TimeSpan resolution, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var ids = lastUsed.Keys.ToList();
        var rows = await db.Tokens.Where(t => ids.Contains(t.Id)).ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            var used = lastUsed[row.Id];
            if (row.LastUsedAt is null || used - row.LastUsedAt.Value >= resolution)
            {
                row.LastUsedAt = used;
            }
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    });
}
