using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.Sqlite;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Data.Sqlite;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Store;

/// <summary>The database files are the owner's alone, and a restore does not bring revoked tokens back.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DatabaseSecrecyTests
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task DatabaseWalAndShm_AreOwnerOnly_EvenWhenTheFolderAndAWorldReadableDatabaseExisted()
    {
        using var folder = FolderHost.CreateFolder();
        Directory.CreateDirectory(folder.Path);
        var database = Path.Combine(folder.Path, "lb.db");
        // What a umask of 022 leaves: an existing folder keeps its mode, so nothing tightened the file.
        File.Create(database).Dispose();
        File.SetUnixFileMode(database, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using (var host = await FolderHost.StartAsync(folder.Path))
        {
            Assert.True(File.Exists(database + "-wal"), "the WAL exists while the control plane runs");
            foreach (var path in new[] { database, database + "-wal", database + "-shm" })
            {
                Assert.True(File.Exists(path), path);
                Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
            }
        }
    }

    [Fact]
    public async Task Restore_KeepsTokensRevokedSinceTheBackup_Revoked_AndListsThem()
    {
        await using var server = await ApiServer.StartAsync();
        var access = server.Access(server.AdminToken);
        var revokedLater = await access.CreateTokenAsync(new CreateTokenRequest { Role = "viewer" });
        var stillValid = await access.CreateTokenAsync(new CreateTokenRequest { Role = "viewer" });
        var backup = Path.Combine(server.Root, "backup.db");
        await new SqliteMaintenance(server.DatabasePath).BackupAsync(backup);

        await access.RevokeTokenAsync(new RevokeTokenRequest { Id = revokedLater.Token.Id });
        await server.Management(server.AdminToken).CreatePoolAsync(new WritePoolRequest { Pool = Pool("after-the-backup") });
        // The database as it is now, in a data folder of its own, where the restore will happen.
        using var restored = FolderHost.CreateFolder();
        Directory.CreateDirectory(restored.Path);
        var target = Path.Combine(restored.Path, "lb.db");
        await new SqliteMaintenance(server.DatabasePath).BackupAsync(target);

        var result = await new SqliteMaintenance(target).RestoreAsync(backup);

        Assert.Equal([revokedLater.Token.Id], result.RevocationsKept);
        Assert.Null(result.RevocationWarning);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(target));
        await using (var connection = new SqliteConnection($"Data Source={target};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var pools = connection.CreateCommand();
            pools.CommandText = "SELECT COUNT(*) FROM Pools WHERE Name = 'after-the-backup'";
            Assert.Equal(0L, (long)(await pools.ExecuteScalarAsync())!);
            // With its audit row: the restored history says who revoked it.
            await using var audit = connection.CreateCommand();
            audit.CommandText = "SELECT ActorRole FROM ChangeLog WHERE Kind = 'Token' AND Name = $id AND Operation = 'revoke'";
            audit.Parameters.AddWithValue("$id", revokedLater.Token.Id);
            Assert.Equal("admin", (string?)await audit.ExecuteScalarAsync());
        }

        // The control plane started on the restored database refuses the token, and takes the other one.
        await using var host = await FolderHost.StartAsync(restored.Path);
        using var channel = ApiChannels.Open(host);
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Api.V1.Access.AccessClient(ApiChannels.WithToken(channel, revokedLater.Secret)).WhoAmIAsync(new WhoAmIRequest()));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Equal(stillValid.Token.Id, (await new Api.V1.Access.AccessClient(ApiChannels.WithToken(channel, stillValid.Secret)).WhoAmIAsync(new WhoAmIRequest())).Id);
    }
}
