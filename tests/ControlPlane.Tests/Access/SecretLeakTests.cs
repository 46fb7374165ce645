using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Data.Sqlite;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>
/// Private keys and token secrets go in and never come out: not in any API response (admin or
/// viewer), not in the SQLite file or its WAL, not in the logs (captured at Trace level with
/// exceptions and scopes). Only the sealed key and the token hash are stored.
/// </summary>
public sealed class SecretLeakTests : IAsyncLifetime
{
    private readonly LogCapture _logs = new();
    private readonly SecretNeedles _needles = new();
    private readonly List<(string Where, byte[] Bytes)> _responses = [];
    private ApiServer _server = null!;
    private bool _stopped;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync(configureServices: _logs.AddTo);

    public async Task DisposeAsync()
    {
        if (!_stopped)
        {
            await _server.DisposeAsync();
        }
    }

    [Fact]
    public async Task CertificatePrivateKeys_AreNeverInResponses_TheDatabase_OrTheLogs()
    {
        var now = DateTimeOffset.UtcNow;
        using var ownRsa = RSA.Create(2048);
        var rsa = TestCertificates.Rsa("rsa.example.com", now, key: ownRsa);
        var ecdsa = TestCertificates.Ecdsa("ec.example.com", now);
        using var replacementRsa = RSA.Create(2048);
        var replacement = TestCertificates.Rsa("rsa.example.com", now, key: replacementRsa, pkcs1: true);
        var sec1 = TestCertificates.Ecdsa("sec1.example.com", now, sec1: true);
        var chain = TestCertificates.Chain("chain.example.com", now);
        var dryRun = TestCertificates.Ecdsa("dry.example.com", now);
        var refused = TestCertificates.Ecdsa("refused.example.com", now);
        foreach (var (label, pem) in new[] { ("rsa", rsa), ("ecdsa", ecdsa), ("replacement", replacement), ("sec1", sec1), ("chain", chain), ("dry-run", dryRun), ("refused", refused) })
        {
            _needles.AddPrivateKey(label, pem.PrivateKeyPem);
        }
        var admin = _server.Management(_server.AdminToken);

        Keep("create", await admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("site-rsa", rsa.CertificatePem, rsa.PrivateKeyPem) }));
        Keep("apply", await admin.ApplyAsync(new ApplyRequest
        {
            Resources =
            {
                Resources.R(Resources.Certificate("site-ec", ecdsa.CertificatePem, ecdsa.PrivateKeyPem)),
                Resources.R(Resources.Certificate("site-sec1", sec1.CertificatePem, sec1.PrivateKeyPem)),
                Resources.R(Resources.Certificate("site-chain", chain.CertificatePem, chain.PrivateKeyPem)),
                Resources.R(Resources.Pool("web", "http")),
                Resources.R(Resources.HttpsListener("public", "edge", 443, "web", "site-rsa", "site-ec")),
            },
        }));
        var current = await admin.GetCertificateAsync(new GetRequest { Name = "site-rsa" });
        // The same key again (compared with the stored one, so decrypted), then a new key.
        Keep("unchanged update", await admin.UpdateCertificateAsync(new WriteCertificateRequest { Certificate = WithVersion(Resources.Certificate("site-rsa", rsa.CertificatePem, rsa.PrivateKeyPem), current) }));
        Keep("update", await admin.UpdateCertificateAsync(new WriteCertificateRequest { Certificate = WithVersion(Resources.Certificate("site-rsa", replacement.CertificatePem, replacement.PrivateKeyPem), current) }));
        Keep("dry run", await admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("dry", dryRun.CertificatePem, dryRun.PrivateKeyPem), DryRun = true }));
        // Refusals: a key that does not match, a key where the certificate goes, a key after the chain, a key in the wrong field of an Apply.
        await KeepRefusalAsync("mismatched key", () => admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("bad1", ecdsa.CertificatePem, refused.PrivateKeyPem) }).ResponseAsync);
        await KeepRefusalAsync("key as certificate", () => admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("bad2", refused.PrivateKeyPem, refused.PrivateKeyPem) }).ResponseAsync);
        await KeepRefusalAsync("key appended to certificate", () => admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("bad3", refused.CertificatePem + refused.PrivateKeyPem, refused.PrivateKeyPem) }).ResponseAsync);
        await KeepRefusalAsync("key appended to certificate in an apply", () => admin.ApplyAsync(new ApplyRequest
        {
            Resources = { Resources.R(Resources.Certificate("bad4", refused.CertificatePem + "\n" + refused.PrivateKeyPem, refused.PrivateKeyPem)) },
        }).ResponseAsync);
        await KeepRefusalAsync("key appended to backend tls ca", () => admin.ApplyAsync(new ApplyRequest
        {
            Resources = { Resources.R(Resources.Pool("tls-ca", "https", s => s.BackendTls = new BackendTls { CaPem = chain.CertificatePem + "\n" + refused.PrivateKeyPem })) },
        }).ResponseAsync);
        await KeepRefusalAsync("key as backend tls ca", () => admin.ApplyAsync(new ApplyRequest
        {
            Resources = { Resources.R(Resources.Pool("tls", "https", s => s.BackendTls = new BackendTls { CaPem = refused.PrivateKeyPem })) },
        }).ResponseAsync);

        await ReadEverythingAsync(_server.AdminToken, "admin");
        await ReadEverythingAsync(await _server.CreateTokenAsync("viewer"), "viewer");

        // Not vacuous: responses do carry the certificates (their PEM lines), just never the keys.
        Assert.Contains(_responses, r => r.Bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(FirstBodyLine(replacement.CertificatePem))) >= 0);
        AssertNotFoundInResponses();

        await AssertNotFoundInDatabaseAsync(expectPresent: FirstBodyLine(chain.CertificatePem));
        var sealedKeys = await ReadColumnAsync("SELECT EncryptedPrivateKey FROM Certificates ORDER BY Name");
        Assert.Equal(4, sealedKeys.Count);
        Assert.All(sealedKeys, blob => Assert.True(blob.Length > 100, "a sealed private key is stored"));

        await StopServerAsync();
        AssertNotFoundInLogs(expectPresent: "Committed revision");
    }

    [Fact]
    public async Task TokenSecrets_AreNeverInResponses_TheDatabase_OrTheLogs_OnlyTheirHash()
    {
        var access = _server.Access(_server.AdminToken);
        var tokens = new List<(string Label, string Bearer)> { ("bootstrap admin", _server.AdminToken) };
        foreach (var (role, tier, ttl) in new[] { ("viewer", "", ""), ("agent", "edge", "90d"), ("admin", "", "12h") })
        {
            var created = await access.CreateTokenAsync(new CreateTokenRequest { Role = role, Tier = tier, Ttl = ttl, Description = $"{role} for the leak test" });
            tokens.Add((role, created.Secret));
        }
        foreach (var (label, bearer) in tokens)
        {
            _needles.AddToken(label, bearer);
        }
        // A near miss (last character changed) is almost the whole secret: it must not be logged either.
        var nearMiss = tokens[1].Bearer[..^1] + (tokens[1].Bearer[^1] == 'A' ? 'B' : 'A');
        await KeepRefusalAsync("near-miss token", () => _server.Management(nearMiss).ListPoolsAsync(new ListRequest()).ResponseAsync);
        await KeepRefusalAsync("agent token on management", () => _server.Management(tokens[2].Bearer).ListPoolsAsync(new ListRequest()).ResponseAsync);

        foreach (var (label, bearer) in tokens)
        {
            Keep($"whoami {label}", await _server.Access(bearer).WhoAmIAsync(new WhoAmIRequest()));
        }
        var revoked = await access.RevokeTokenAsync(new RevokeTokenRequest { Id = (await _server.Access(tokens[3].Bearer).WhoAmIAsync(new WhoAmIRequest())).Id });
        Keep("revoke", revoked);
        Keep("list tokens", await access.ListTokensAsync(new ListTokensRequest { All = true }));
        Keep("audit (admin)", await access.ListAuditAsync(new ListAuditRequest { Limit = 1000 }));
        Keep("audit (viewer)", await _server.Access(tokens[1].Bearer).ListAuditAsync(new ListAuditRequest { Limit = 1000, Kind = "token" }));

        // The stored hash is SHA-256 of the secret; responses carry neither secrets nor hashes.
        var hashes = await ReadColumnAsync("SELECT SecretHash FROM Tokens");
        Assert.Equal(tokens.Count, hashes.Count);
        foreach (var (label, bearer) in tokens)
        {
            var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(bearer[(bearer.IndexOf('_', 4) + 1)..]));
            Assert.Contains(hashes, h => h.AsSpan().SequenceEqual(hash));
            _needles.Add($"{label} hash", hash);
            _needles.AddText($"{label} hash hex", Convert.ToHexStringLower(hash));
            _needles.AddText($"{label} hash base64", Convert.ToBase64String(hash));
        }
        Assert.Contains(_responses, r => r.Where == "list tokens" && TokenList.Parser.ParseFrom(r.Bytes).Items.Count == tokens.Count);
        AssertNotFoundInResponses();

        // The database holds the hashes (by design) but never a secret.
        var hashLabels = tokens.SelectMany(t => new[] { $"{t.Label} hash", $"{t.Label} hash hex", $"{t.Label} hash base64" }).ToHashSet();
        await AssertNotFoundInDatabaseAsync(expectPresent: revoked.Id, allowed: hashLabels);

        await StopServerAsync();
        AssertNotFoundInLogs(expectPresent: revoked.Id);
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "...";

    private static Certificate WithVersion(Certificate certificate, Certificate current)
    {
        certificate.Metadata.ResourceVersion = current.Metadata.ResourceVersion;
        return certificate;
    }

    private static string FirstBodyLine(string pem) => pem.Split('\n')[1].Trim();

    /// <summary>Every read an admin or a viewer can make that could show a certificate, a token or the audit.</summary>
    private async Task ReadEverythingAsync(string token, string who)
    {
        var management = _server.Management(token);
        var access = _server.Access(token);
        foreach (var name in new[] { "site-rsa", "site-ec", "site-sec1", "site-chain" })
        {
            Keep($"{who} get {name}", await management.GetCertificateAsync(new GetRequest { Name = name }));
        }
        Keep($"{who} list certificates", await management.ListCertificatesAsync(new ListRequest()));
        Keep($"{who} list listeners", await management.ListListenersAsync(new ListRequest()));
        Keep($"{who} status", await management.GetStatusAsync(new GetStatusRequest()));
        Keep($"{who} audit", await access.ListAuditAsync(new ListAuditRequest { Limit = 1000 }));
        Keep($"{who} audit of one", await access.ListAuditAsync(new ListAuditRequest { Kind = "certificate", Name = "site-rsa" }));
        Keep($"{who} whoami", await access.WhoAmIAsync(new WhoAmIRequest()));
        if (who == "admin")
        {
            Keep($"{who} tokens", await access.ListTokensAsync(new ListTokensRequest { All = true }));
        }
    }

    private void Keep(string where, IMessage response)
    {
        _responses.Add((where, response.ToByteArray()));
        _responses.Add((where + " (json)", System.Text.Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(response))));
    }

    /// <summary>Runs a call that must be refused and keeps what came back: status detail, trailers (error details included).</summary>
    private async Task KeepRefusalAsync(string where, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(ex.StatusCode is StatusCode.InvalidArgument or StatusCode.Unauthenticated or StatusCode.PermissionDenied, $"{where}: {ex.StatusCode} {ex.Status.Detail}");
        _responses.Add((where + " detail", System.Text.Encoding.UTF8.GetBytes(ex.Status.Detail)));
        foreach (var trailer in ex.Trailers)
        {
            _responses.Add(($"{where} trailer {trailer.Key}", trailer.IsBinary ? trailer.ValueBytes : System.Text.Encoding.UTF8.GetBytes(trailer.Value)));
        }
    }

    private void AssertNotFoundInResponses()
    {
        Assert.True(_needles.Count > 20, "too few needles to mean anything");
        var leaks = _responses.SelectMany(r => _needles.FoundIn(r.Bytes).Select(label => $"{label} in {r.Where}")).ToList();
        Assert.True(leaks.Count == 0, "secret material in API responses: " + string.Join("; ", leaks.Take(20)));
    }

    /// <summary>Searches lb.db and lb.db-wal as they are, then again after a checkpoint moved the WAL into the main file.</summary>
    private async Task AssertNotFoundInDatabaseAsync(string expectPresent, IReadOnlySet<string>? allowed = null)
    {
        var files = new List<(string Where, byte[] Bytes)>();
        files.AddRange(ReadDatabaseFiles("live"));
        await using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _server.DatabasePath, Pooling = false }.ToString()))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            await command.ExecuteNonQueryAsync();
        }
        files.AddRange(ReadDatabaseFiles("after checkpoint"));
        var present = System.Text.Encoding.UTF8.GetBytes(expectPresent);
        Assert.True(files.Any(f => f.Bytes.AsSpan().IndexOf(present) >= 0), $"'{expectPresent}' is in neither the database nor its WAL: the search reads the wrong files");
        var leaks = files.SelectMany(f => _needles.FoundIn(f.Bytes).Where(l => allowed?.Contains(l) != true).Select(label => $"{label} in {f.Where}")).ToList();
        Assert.True(leaks.Count == 0, "secret material in the database files: " + string.Join("; ", leaks.Take(20)));
    }

    private IEnumerable<(string Where, byte[] Bytes)> ReadDatabaseFiles(string when)
    {
        foreach (var path in new[] { _server.DatabasePath, _server.DatabasePath + "-wal" })
        {
            if (File.Exists(path))
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
                yield return ($"{Path.GetFileName(path)} ({when})", bytes);
            }
        }
    }

    private async Task<List<byte[]>> ReadColumnAsync(string sql)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _server.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var values = new List<byte[]>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            values.Add((byte[])reader.GetValue(0));
        }
        return values;
    }

    /// <summary>Stops the host so that every log line (shutdown included) has been written.</summary>
    private async Task StopServerAsync()
    {
        _stopped = true;
        await _server.DisposeAsync();
    }

    private void AssertNotFoundInLogs(string expectPresent)
    {
        var text = _logs.Text;
        // Not vacuous: the capture saw the service's own messages and the framework's Trace/Debug ones.
        Assert.Contains(expectPresent, text, StringComparison.Ordinal);
        Assert.Contains(_logs.Entries, e => e.StartsWith("Trace ", StringComparison.Ordinal) || e.StartsWith("Debug ", StringComparison.Ordinal));
        var leaks = _needles.FoundIn(text);
        var lines = leaks.Select(label => label + ": " + Clip(_logs.Entries.First(e => _needles.FoundIn(e).Contains(label)))).ToList();
        Assert.True(leaks.Count == 0, "secret material in the logs: " + string.Join("\n", lines.Take(10)));
    }
}
