using LoadBalancer.ControlPlane.History;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace LoadBalancer.ControlPlane.Tests.Store.History;

/// <summary>A database from before history: the migration keeps its current state as the oldest revision.</summary>
public sealed class HistoryMigrationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "lb-cp-history-" + Guid.NewGuid().ToString("N"));

    public HistoryMigrationTests() => Directory.CreateDirectory(_directory);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearPool(new Microsoft.Data.Sqlite.SqliteConnection(Connection));
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does not affect the result.
        }
    }

    private string Connection => StoreServiceExtensions.BuildConnectionString(Path.Combine(_directory, "lb.db"));

    private LbDbContext Open()
    {
        var builder = new DbContextOptionsBuilder<LbDbContext>();
        StoreServiceExtensions.ConfigureSqlite(builder, Connection);
        return new LbDbContext(builder.Options);
    }

    [Fact]
    public async Task ExistingDatabase_IsSeededWithItsCurrentState_AtItsCurrentRevision()
    {
        await using (var db = Open())
        {
            await db.GetService<IMigrator>().MigrateAsync("20261126032329_DatabaseEpoch");
            var at = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO Pools (Name, Uid, ResourceVersion, Generation, CreatedAt, UpdatedAt, LabelsJson, SpecJson, SessionKey) VALUES ('web', 'u-1', 7, 2, {0}, {0}, '{{\"team\":\"shop\"}}', '{{\"protocol\":\"http\"}}', X'0102');", at);
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO Backends (Name, Uid, ResourceVersion, Generation, CreatedAt, UpdatedAt, LabelsJson, SpecJson, Pool) VALUES ('web-1', 'u-2', 9, 1, {0}, {0}, '{{}}', '{{\"pool\":\"web\"}}', 'web');", at);
            await db.Database.ExecuteSqlRawAsync("UPDATE Revision SET Value = 9 WHERE Id = 1;");
        }

        await using (var db = Open())
        {
            await db.Database.MigrateAsync();
            Assert.Equal(9, await HistoryQueries.OldestKeptAsync(db, default));
            var state = await HistoryQueries.StateAtAsync(db, 9, default);
            Assert.Equal(["Backend web-1 9", "Pool web 9"], state.Select(r => $"{r.Kind} {r.Name} {r.Revision}").Order(StringComparer.Ordinal));
            var pool = state.Single(r => r.Kind == "Pool");
            Assert.Equal(new byte[] { 1, 2 }, pool.Sealed);
            Assert.Equal("{\"team\":\"shop\"}", pool.LabelsJson);
            Assert.Equal(2, pool.Generation);
        }

        var reader = new HistoryReader(new Factory(this));
        var description = await RpcAssert.FieldViolationAsync(() => reader.GetAsync(8, default), "revision");
        Assert.Equal("revision 8 was compacted; oldest kept is 9", description);
    }

    private sealed class Factory(HistoryMigrationTests owner) : IDbContextFactory<LbDbContext>
    {
        public LbDbContext CreateDbContext() => owner.Open();
    }
}
