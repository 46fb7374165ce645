using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Store;

/// <summary>
/// The SQLite settings that make an acknowledged write durable, read on the connections the
/// real control plane itself opens: WAL, and synchronous FULL (in WAL mode, NORMAL or OFF skip
/// the fsync of the log at commit, so a power cut loses writes already acknowledged, which a
/// kill -9 test cannot see: the page cache survives it).
/// </summary>
public sealed class DurabilitySettingsTests
{
    [Fact]
    public async Task TheServersOwnConnections_UseWal_AndSynchronousFull()
    {
        await using var server = await ApiServer.StartAsync();
        // A write first, so the pragmas are read on a connection that has already committed.
        await server.Management(server.AdminToken).CreatePoolAsync(new Api.V1.WritePoolRequest { Pool = Resources.Pool("durable") });
        var factory = server.Host.App.Services.GetRequiredService<IDbContextFactory<LbDbContext>>();
        for (var i = 0; i < 3; i++)
        {
            await using var db = await factory.CreateDbContextAsync();
            await db.Database.OpenConnectionAsync();
            Assert.Equal("wal", await PragmaAsync(db, "journal_mode"));
            // 2 = FULL, 3 = EXTRA: the WAL is synced at every commit.
            var synchronous = long.Parse(await PragmaAsync(db, "synchronous"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(synchronous >= 2, $"PRAGMA synchronous is {synchronous}: commits are not synced (2 = FULL is needed in WAL mode)");
        }
    }

    private static async Task<string> PragmaAsync(LbDbContext db, string pragma)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = "PRAGMA " + pragma + ";";
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture)!;
    }
}
