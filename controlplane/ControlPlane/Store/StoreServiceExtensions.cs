using System.Data.Common;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Snapshots;
using LoadBalancer.ControlPlane.Store.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace LoadBalancer.ControlPlane.Store;

public static class StoreServiceExtensions
{
    /// <summary>
    /// Registers the SQLite store in <paramref name="dataDir"/> behind the store's interfaces
    /// (<see cref="IResourceWriter"/>, <see cref="IStoreReader"/>, <see cref="IAgentStateStore"/>,
    /// <see cref="ITokenStore"/>, <see cref="IAuditLogReader"/>, <see cref="IEventStore"/>,
    /// <see cref="ISealedKeyStore"/>), with <see cref="StoreChangeFeed"/>, <see cref="SecretProtector"/>
    /// and <see cref="SnapshotCompiler"/>.
    /// </summary>
    public static IServiceCollection AddControlPlaneStore(this IServiceCollection services, string dataDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        var connectionString = BuildConnectionString(Path.Combine(dataDir, "lb.db"));
        services.AddDbContextFactory<LbDbContext>(o => ConfigureSqlite(o, connectionString));
        services.AddSingleton<StoreChangeFeed>();
        services.AddSingleton<StoreEpoch>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => SecretProtector.LoadOrCreate(dataDir, Environment.GetEnvironmentVariable(SecretProtector.KeyEnvironmentVariable)));
        services.AddSingleton<ResourceStore>();
        services.AddSingleton<IResourceWriter>(sp => sp.GetRequiredService<ResourceStore>());
        services.AddSingleton<IStoreReader, SqliteStoreReader>();
        services.AddSingleton<IAgentStateStore, SqliteAgentStateStore>();
        services.AddSingleton<ITokenStore, SqliteTokenStore>();
        services.AddSingleton<IAuditLogReader, SqliteAuditLogReader>();
        services.AddSingleton<IEventStore, SqliteEventStore>();
        services.AddSingleton<ISealedKeyStore, SqliteSealedKeyStore>();
        services.AddSingleton<SnapshotCompiler>();
        return services;
    }

    internal static string BuildConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        // Microsoft.Data.Sqlite retries SQLITE_BUSY until the command timeout elapses.
        DefaultTimeout = 30,
        Pooling = true,
    }.ToString();

    internal static void ConfigureSqlite(DbContextOptionsBuilder options, string connectionString) =>
        options.UseSqlite(connectionString).AddInterceptors(SqlitePragmaInterceptor.Instance);

    /// <summary>Applies migrations, switches to WAL and primes the change feed with the current revision.</summary>
    public static async Task InitializeStoreAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        var factory = services.GetRequiredService<IDbContextFactory<LbDbContext>>();
        await using var db = await factory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
        // WAL is persistent in the database file: readers never block the single writer.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
        services.GetRequiredService<StoreChangeFeed>().Notify(revision);
        services.GetRequiredService<StoreEpoch>().Value = await StoreEpoch.EnsureAsync(db, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets the per-connection busy timeout on every physical or pooled open.</summary>
    private sealed class SqlitePragmaInterceptor : DbConnectionInterceptor
    {
        public static readonly SqlitePragmaInterceptor Instance = new();

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => SetPragmas(connection);

        public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            SetPragmas(connection);
            return Task.CompletedTask;
        }

        private static void SetPragmas(DbConnection connection)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 5000;";
            command.ExecuteNonQuery();
        }
    }
}

/// <summary>
/// The database epoch (see <see cref="RevisionEntity.Epoch"/>), read once at start: only an
/// offline restore changes it.
/// </summary>
public sealed class StoreEpoch
{
    public string Value { get; internal set; } = "";

    /// <summary>The database's epoch, made on first use (a new database, or one from before epochs).</summary>
    internal static async Task<string> EnsureAsync(LbDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.Revision.SingleAsync(r => r.Id == 1, cancellationToken).ConfigureAwait(false);
        if (row.Epoch.Length == 0)
        {
            row.Epoch = NewEpoch();
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        return row.Epoch;
    }

    public static string NewEpoch() => Guid.NewGuid().ToString("N");
}

/// <summary>Read-only access to the global revision counter.</summary>
public static class StoreRevision
{
    public static async Task<long> GetAsync(LbDbContext db, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        var row = await db.Revision.AsNoTracking().SingleOrDefaultAsync(r => r.Id == 1, cancellationToken).ConfigureAwait(false);
        return row?.Value ?? 0;
    }
}
