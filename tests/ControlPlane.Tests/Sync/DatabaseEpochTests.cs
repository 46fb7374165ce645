using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.Sqlite;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// Revisions compare only within one database epoch: an agent ahead of a restored database
/// gets its snapshot anyway, an agent of the same epoch never moves backwards.
/// </summary>
public sealed class DatabaseEpochTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartWithEdgeWebAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Epoch => _server.Host.App.Services.GetRequiredService<StoreEpoch>().Value;

    [Fact]
    public async Task AgentOfAnotherEpoch_AheadInRevision_GetsTheCurrentSnapshot_WithThisEpoch()
    {
        Assert.Matches("^[0-9a-f]{32}$", Epoch);
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge", Revision = 1000, SnapshotHash = "other", Epoch = "before-the-restore" } }, cts.Token);

        var snapshot = await call.NextSnapshotAsync(cts.Token);
        Assert.True(snapshot.Revision < 1000, $"revision {snapshot.Revision}");
        Assert.Equal(Epoch, snapshot.Epoch);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task AgentOfThisEpoch_AheadInRevision_IsNotMovedBackwards()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        using var call = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge", Revision = 1000, SnapshotHash = "other", Epoch = Epoch } }, cts.Token);

        // Nothing but keep-alives (every 15 s) until something newer than 1000 exists: the read times out.
        await Assert.ThrowsAnyAsync<Exception>(() => call.NextSnapshotAsync(cts.Token));
    }

    [Fact]
    public async Task Restore_ChecksTheBackup_SetsTheOldFileAside_AndStartsANewEpoch()
    {
        var backup = Path.Combine(_server.Root, "backup.db");
        await new SqliteMaintenance(_server.DatabasePath).BackupAsync(backup);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        }
        var target = Path.Combine(_server.Root, "restored", "lb.db");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        await File.WriteAllTextAsync(target, "the damaged database");
        await File.WriteAllTextAsync(target + "-wal", "its WAL");

        var result = await new SqliteMaintenance(target).RestoreAsync(backup);

        Assert.NotEqual(Epoch, result.Epoch);
        Assert.Equal("the damaged database", await File.ReadAllTextAsync(result.PreviousKeptAs!));
        Assert.Equal("its WAL", await File.ReadAllTextAsync(result.PreviousKeptAs + "-wal"));
        Assert.False(File.Exists(target + "-wal"), "no WAL of the old file is left to be replayed into the new one");
        await using var connection = new SqliteConnection($"Data Source={target};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Epoch FROM Revision WHERE Id = 1";
        Assert.Equal(result.Epoch, (string?)await command.ExecuteScalarAsync());

        // A damaged backup is refused, and nothing is replaced.
        var damaged = Path.Combine(_server.Root, "damaged.db");
        await File.WriteAllTextAsync(damaged, "not a database");
        await Assert.ThrowsAsync<StoreCorruptException>(() => new SqliteMaintenance(target).RestoreAsync(damaged));
        Assert.False(File.Exists(target + ".restoring"));
    }
}
