using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

public sealed class SqliteSealedKeyStore(IDbContextFactory<LbDbContext> dbFactory) : ISealedKeyStore
{
    public Task<StoredKeys> KeysAsync(CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var certificates = await db.Certificates.AsNoTracking().Select(c => new { c.Name, Blob = c.EncryptedPrivateKey }).ToListAsync(cancellationToken).ConfigureAwait(false);
        var pools = await db.Pools.AsNoTracking().Select(p => new { p.Name, Blob = p.SessionKey }).ToListAsync(cancellationToken).ConfigureAwait(false);
        return new StoredKeys(certificates.Select(c => (c.Name, c.Blob)).ToList(), pools.Select(p => (p.Name, p.Blob)).ToList());
    });

    public Task<int> SealBareSessionKeysAsync(Func<string, byte[], byte[]> seal, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        // Only the bare keys are read: a start-up step must not load every pool of a large store.
        var bare = await db.Pools.Where(p => p.SessionKey.Length == PoolEntity.SessionKeySize).ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var pool in bare)
        {
            pool.SessionKey = seal(pool.Name, pool.SessionKey);
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return bare.Count;
    });
}
