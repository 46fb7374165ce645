using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Data.Sqlite;

namespace LoadBalancer.ControlPlane.Tests.Security;

/// <summary>
/// The real host refuses to start when DATA/secret.key is lost or replaced while certificates
/// sealed with it exist, leaves the sealed keys alone, and starts again (keys decryptable, served
/// to agents) once the original key is back.
/// </summary>
public sealed class SecretKeyCheckTests : IDisposable
{
    private readonly FolderHost.NewFolder _folder = FolderHost.CreateFolder();
    private readonly TestCertificates.Pem _site = TestCertificates.Ecdsa("site.example.com", DateTimeOffset.UtcNow);

    private string KeyPath => Path.Combine(_folder.Path, SecretProtector.KeyFileName);

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string> KeyProblems() => ["missing", "replaced"];

    [Theory]
    [MemberData(nameof(KeyProblems))]
    public async Task StartWithoutTheSealingKey_IsRefused_LeavesTheKeysAlone_AndTheOriginalKeyBringsThemBack(string problem)
    {
        Assert.True(string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SecretProtector.KeyEnvironmentVariable)),
            $"{SecretProtector.KeyEnvironmentVariable} is set in this environment; these tests need the key file");
        var adminToken = await FirstStartAsync();
        var originalKey = await File.ReadAllBytesAsync(KeyPath);
        var rowsBefore = await ReadCertificateRowsAsync();
        Assert.Equal(0, await CountSyncAuditRowsAsync());

        string? foreignKey = null;
        if (problem == "missing")
        {
            File.Delete(KeyPath);
        }
        else
        {
            foreignKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n";
            await WriteKeyAsync(Encoding.ASCII.GetBytes(foreignKey));
        }

        var ex = await Assert.ThrowsAsync<StartupException>(() => FolderHost.StartAsync(_folder.Path));

        if (problem == "missing")
        {
            Assert.Contains(KeyPath, ex.Message, StringComparison.Ordinal);
            Assert.Contains("restore it", ex.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(KeyPath), "a new key was made although it could never decrypt the stored ones");
        }
        else
        {
            Assert.Contains("is not the one that sealed", ex.Message, StringComparison.Ordinal);
            Assert.Contains("site", ex.Message, StringComparison.Ordinal);
            Assert.Contains("restore the original key", ex.Message, StringComparison.Ordinal);
            Assert.Equal(foreignKey, await File.ReadAllTextAsync(KeyPath));
        }
        Assert.Equal(rowsBefore, await ReadCertificateRowsAsync());

        await WriteKeyAsync(originalKey);
        var host = await FolderHost.StartAsync(_folder.Path);
        await using (host)
        {
            Assert.Null(host.AdminTokenFile);
            using var channel = ApiChannels.Open(host);
            var invoker = ApiChannels.WithToken(channel, adminToken);
            var certificate = await new Api.V1.Management.ManagementClient(invoker).GetCertificateAsync(new GetRequest { Name = "site" });
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(PemBody(_site.CertificatePem))), certificate.Status.FingerprintSha256);
            Assert.Equal("", certificate.Spec.PrivateKeyPem);

            // Served: an agent of the tier receives the certificate with its private key, decrypted.
            var served = await FirstSnapshotAsync(invoker, "edge");
            var snapshotCertificate = Assert.Single(served.Certificates);
            Assert.Equal("site", snapshotCertificate.Name);
            Assert.Equal(_site.PrivateKeyPem.Trim(), snapshotCertificate.PrivateKeyPem.Trim());
        }
        Assert.Equal(rowsBefore, await ReadCertificateRowsAsync());
        // The one row the comparison leaves out: the audit of this test's own admin Sync stream.
        Assert.Equal(1, await CountSyncAuditRowsAsync());
    }

    [Fact]
    public async Task StartWithoutTheKey_AndNoCertificates_MakesANewKey()
    {
        var host = await FolderHost.StartAsync(_folder.Path);
        await host.DisposeAsync();
        File.Delete(KeyPath);

        await using var again = await FolderHost.StartAsync(_folder.Path);

        Assert.True(File.Exists(KeyPath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyPath));
        }
    }

    [Fact]
    public async Task BareSessionKeyFromAnOlderVersion_IsSealedAtStart_AndAgentsKeepTheSameKey()
    {
        var adminToken = await FirstStartAsync(cookiePool: true);
        // What a version before sealed keys stored: the 32 bytes themselves.
        var bare = RandomNumberGenerator.GetBytes(32);
        await ExecuteAsync("UPDATE Pools SET SessionKey = $key WHERE Name = 'web'", ("$key", bare));

        var host = await FolderHost.StartAsync(_folder.Path);
        await using (host)
        {
            using var channel = ApiChannels.Open(host);
            var served = await FirstSnapshotAsync(ApiChannels.WithToken(channel, adminToken), "edge");
            // Cookies signed before the upgrade stay valid: the agents get the same key.
            Assert.Equal(bare, served.Pools.Single(p => p.Name == "web").SessionPersistence.HmacKey.ToByteArray());
        }
        var stored = await ReadSessionKeyAsync("web");
        Assert.True(stored.Length > bare.Length, "the key is stored sealed now");
        Assert.Equal(-1, stored.AsSpan().IndexOf(bare));
    }

    [Fact]
    public async Task SealedSessionKeys_AloneAreEnoughToRefuseAReplacedKey()
    {
        var host = await FolderHost.StartAsync(_folder.Path);
        await using (host)
        {
            var adminToken = (await File.ReadAllTextAsync(host.AdminTokenFile!)).Trim();
            using var channel = ApiChannels.Open(host);
            await new Api.V1.Management.ManagementClient(ApiChannels.WithToken(channel, adminToken)).CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("web", "http") });
        }
        await WriteKeyAsync(Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n"));

        var ex = await Assert.ThrowsAsync<StartupException>(() => FolderHost.StartAsync(_folder.Path));
        Assert.Contains("pool web", ex.Message, StringComparison.Ordinal);
        Assert.Contains("restore the original key", ex.Message, StringComparison.Ordinal);
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder.Path, "lb.db"), Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    private async Task<byte[]> ReadSessionKeyAsync(string pool)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder.Path, "lb.db"), Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT SessionKey FROM Pools WHERE Name = $name";
        command.Parameters.AddWithValue("$name", pool);
        return (byte[])(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Starts on the empty folder, stores a certificate used by an https listener of tier edge, stops; returns the admin token.</summary>
    private async Task<string> FirstStartAsync(bool cookiePool = false)
    {
        var host = await FolderHost.StartAsync(_folder.Path);
        await using (host)
        {
            var adminToken = (await File.ReadAllTextAsync(host.AdminTokenFile!)).Trim();
            using var channel = ApiChannels.Open(host);
            var management = new Api.V1.Management.ManagementClient(ApiChannels.WithToken(channel, adminToken));
            await management.ApplyAsync(new ApplyRequest
            {
                Resources =
                {
                    Resources.R(Resources.Certificate("site", _site.CertificatePem, _site.PrivateKeyPem)),
                    Resources.R(Resources.Pool("web", "http", s =>
                    {
                        if (cookiePool)
                        {
                            s.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "lb-session", Ttl = "1h" };
                        }
                    })),
                    Resources.R(Resources.HttpsListener("public", "edge", 443, "web", "site")),
                },
            });
            Assert.True(File.Exists(KeyPath));
            return adminToken;
        }
    }

    private async Task WriteKeyAsync(byte[] content)
    {
        await File.WriteAllBytesAsync(KeyPath, content);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>Every certificate row, the sealed key included, plus the revision and the audit row count.</summary>
    private async Task<string> ReadCertificateRowsAsync()
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder.Path, "lb.db"), Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Name, ResourceVersion, Generation, SpecJson, hex(EncryptedPrivateKey), FingerprintSha256, " +
            "(SELECT Value FROM Revision WHERE Id = 1), " +
            // An admin's Sync stream is audited (it carries private keys); that row is not a change.
            "(SELECT COUNT(*) FROM ChangeLog WHERE Operation NOT LIKE 'sync-keys:%') FROM Certificates ORDER BY Name";
        var rows = new StringBuilder();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            for (var i = 0; i < reader.FieldCount; i++)
            {
                rows.Append(reader.GetValue(i)).Append('|');
            }
            rows.Append('\n');
        }
        Assert.Contains("site|", rows.ToString(), StringComparison.Ordinal);
        return rows.ToString();
    }

    /// <summary>Audit rows of admin Sync streams (they carry private keys), which ReadCertificateRowsAsync leaves out.</summary>
    private async Task<long> CountSyncAuditRowsAsync()
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder.Path, "lb.db"), Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM ChangeLog WHERE Operation LIKE 'sync-keys:%'";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<SnapshotData> FirstSnapshotAsync(CallInvoker invoker, string tier)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var call = new AgentSync.AgentSyncClient(invoker).Sync(cancellationToken: timeout.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "agent-1", Tier = tier, SoftwareVersion = "test" } }, timeout.Token);
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            if (call.ResponseStream.Current.Snapshot is { } snapshot)
            {
                await call.RequestStream.CompleteAsync();
                return SnapshotData.Parser.ParseFrom(snapshot.Payload);
            }
        }
        throw new InvalidOperationException("the sync stream ended without a snapshot");
    }

    private static byte[] PemBody(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal))));
}
