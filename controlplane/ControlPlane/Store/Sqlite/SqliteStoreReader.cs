using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

/// <summary>
/// A view is one deferred SQLite transaction in WAL mode: it takes no write lock, and its first
/// read (the revision) pins the snapshot every later read of the view sees.
/// </summary>
public sealed class SqliteStoreReader(IDbContextFactory<LbDbContext> dbFactory) : IStoreReader
{
    public Task<IStoreView> OpenViewAsync(CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            var transaction = connection.BeginTransaction(deferred: true);
            await db.Database.UseTransactionAsync(transaction, cancellationToken).ConfigureAwait(false);
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            return (IStoreView)new View(db, transaction, revision);
        }
        catch
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    });

    public Task<long> RevisionAsync(CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
    });

    private sealed class View(LbDbContext db, SqliteTransaction transaction, long revision) : IStoreView
    {
        public long Revision { get; } = revision;

        public Task<IReadOnlyList<T>> ListAsync<T>(CancellationToken cancellationToken = default) where T : ResourceEntity =>
            SqliteFailures.Guard(async () => (IReadOnlyList<T>)await db.Set<T>().AsNoTracking().OrderBy(e => e.Name).ToListAsync(cancellationToken).ConfigureAwait(false));

        public Task<T?> FindAsync<T>(string name, CancellationToken cancellationToken = default) where T : ResourceEntity =>
            SqliteFailures.Guard(() => db.Set<T>().AsNoTracking().SingleOrDefaultAsync(e => e.Name == name, cancellationToken));

        public Task<int> CountAsync<T>(CancellationToken cancellationToken = default) where T : ResourceEntity =>
            SqliteFailures.Guard(() => db.Set<T>().CountAsync(cancellationToken));

        public Task<IReadOnlyList<AgentEntity>> AgentsAsync(CancellationToken cancellationToken = default) =>
            SqliteFailures.Guard(async () => (IReadOnlyList<AgentEntity>)await db.Agents.AsNoTracking().OrderBy(a => a.Name).ToListAsync(cancellationToken).ConfigureAwait(false));

        public Task<AgentEntity?> FindAgentAsync(string name, CancellationToken cancellationToken = default) =>
            SqliteFailures.Guard(() => db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Name == name, cancellationToken));

        public Task<IReadOnlyList<BackendHealthEntity>> BackendHealthAsync(CancellationToken cancellationToken = default) =>
            SqliteFailures.Guard(async () => (IReadOnlyList<BackendHealthEntity>)await db.BackendHealth.AsNoTracking().OrderBy(h => h.Agent).ToListAsync(cancellationToken).ConfigureAwait(false));

        public async ValueTask DisposeAsync()
        {
            // Nothing was written: ending the read is a rollback, and closing the connection ends it too if that fails.
            try
            {
                await transaction.RollbackAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (SqliteFailures.IsStoreFailure(ex))
            {
            }
            finally
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
                await db.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
