using System.Net;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using LoadBalancer.Agent.Cache;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tests.Pools;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Tests.Cache;

public sealed class SnapshotDiskCacheTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "agent-cache-" + Guid.NewGuid().ToString("N"));
    private readonly ListLogger<SnapshotDiskCache> _log = new();

    private string CacheFolder => Path.Combine(_root, "cache");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private SnapshotDiskCache NewCache(string? directory = null, string? keyFile = null) => new(
        new AgentOptions
        {
            ControlPlanes = [new Uri("http://127.0.0.1:1")],
            Tier = "edge",
            Name = "a1",
            CacheDirectory = directory ?? CacheFolder,
            CacheKeyFile = keyFile,
            AdminUrl = "http://127.0.0.1:0",
            BindAddress = IPAddress.Loopback,
        },
        _log);

    private static Snapshot Sample(long revision) => new()
    {
        Revision = revision,
        Hash = "abc" + revision,
        Payload = ByteString.CopyFromUtf8("-----BEGIN PRIVATE KEY----- payload " + revision),
    };

    private string CacheFile => Path.Combine(CacheFolder, SnapshotDiskCache.FileName);

    private string UnsealedFile => Path.Combine(CacheFolder, SnapshotDiskCache.UnsealedFileName);

    /// <summary>The default: beside the cache folder, not in it.</summary>
    private string KeyFile => CacheFolder + ".key";

    private string Logged => string.Join("\n", _log.Entries.Select(e => $"[{e.EventId}] {e.Message}"));

    [Fact]
    public void Save_ThenLoad_RoundTrips()
    {
        var cache = NewCache();

        cache.Save(Sample(4));

        Assert.Equal(Sample(4), cache.Load());
    }

    [Fact]
    public void Load_ByAnotherInstance_SeesTheSavedSnapshot()
    {
        NewCache().Save(Sample(4));

        Assert.Equal(Sample(4), NewCache().Load());
    }

    [Fact]
    public void Save_Twice_KeepsTheLatest()
    {
        var cache = NewCache();

        cache.Save(Sample(4));
        cache.Save(Sample(5));

        Assert.Equal(Sample(5), cache.Load());
    }

    [Fact]
    public void Save_CacheAndKeyFile_AreReadableByTheirOwnerOnly_AndTheKeyIsOutsideTheCacheFolder()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        NewCache().Save(Sample(1));

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(CacheFile));
        Assert.Equal(OwnerOnly | UnixFileMode.UserExecute, File.GetUnixFileMode(CacheFolder));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(KeyFile));
        Assert.Equal(CacheSeal.KeySize, Convert.FromBase64String(File.ReadAllText(KeyFile).Trim()).Length);
    }

    [Fact]
    public void Save_OverAFileWithWiderMode_LeavesMode0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        Directory.CreateDirectory(CacheFolder);
        File.WriteAllBytes(CacheFile, [1, 2, 3]);
        File.SetUnixFileMode(CacheFile, (UnixFileMode)0b110_100_100);

        NewCache().Save(Sample(2));

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(CacheFile));
    }

    [Fact]
    public void Save_LeavesNoTemporaryFileBehind_AndNothingButTheSealedFileInTheFolder()
    {
        var cache = NewCache();

        cache.Save(Sample(1));
        cache.Save(Sample(2));

        Assert.Equal([SnapshotDiskCache.FileName], Directory.GetFiles(CacheFolder).Select(Path.GetFileName));
        Assert.Equal(["cache", "cache.key"], Directory.GetFileSystemEntries(_root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Save_StaleTemporaryFileFromACrash_IsReplacedAndRemoved()
    {
        Directory.CreateDirectory(CacheFolder);
        File.WriteAllBytes(CacheFile + ".tmp", [0xFF, 0xFF, 0xFF]);

        NewCache().Save(Sample(3));

        Assert.False(File.Exists(CacheFile + ".tmp"));
        Assert.Equal(Sample(3), NewCache().Load());
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF })]
    [InlineData(new byte[] { 0x1A, 0x40, 0x01 })]
    public void Load_CorruptFile_ReturnsNull(byte[] content)
    {
        NewCache().Save(Sample(1));
        File.WriteAllBytes(CacheFile, content);

        Assert.Null(NewCache().Load());
    }

    [Fact]
    public void Load_NothingSaved_ReturnsNull() => Assert.Null(NewCache().Load());

    [Fact]
    public void Save_DirectoryCannotBeCreated_DoesNotThrow()
    {
        Directory.CreateDirectory(_root);
        var file = Path.Combine(_root, "a-file");
        File.WriteAllText(file, "x");
        var cache = NewCache(Path.Combine(file, "sub"));

        cache.Save(Sample(1));

        Assert.Null(cache.Load());
    }

    [Fact]
    public void Save_FileHoldsNoPrivateKeyNorCookieKey_InAnyEncoding()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = key.ExportPkcs8PrivateKeyPem();
        var der = key.ExportPkcs8PrivateKey();
        var sec1 = key.ExportECPrivateKey();
        var privateScalar = key.ExportParameters(includePrivateParameters: true).D!;
        var cookieKey = RandomNumberGenerator.GetBytes(32);
        var data = new SnapshotData { Tier = "edge" };
        data.Certificates.Add(new SnapshotCertificate { Name = "site", CertificatePem = "-----BEGIN CERTIFICATE-----", PrivateKeyPem = pem });
        data.Pools.Add(new SnapshotPool { Name = "web", SessionPersistence = new SnapshotSessionPersistence { Type = "cookie", CookieName = "lb", HmacKey = ByteString.CopyFrom(cookieKey) } });
        var snapshot = new Snapshot { Revision = 9, Hash = "h", Payload = data.ToByteString() };

        NewCache().Save(snapshot);

        var bytes = File.ReadAllBytes(CacheFile);
        var text = Encoding.Latin1.GetString(bytes);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        foreach (var secret in new[] { der, sec1, privateScalar, cookieKey })
        {
            Assert.Equal(-1, bytes.AsSpan().IndexOf(secret));
            Assert.DoesNotContain(Convert.ToBase64String(secret)[..24], text, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(secret)[..24], text, StringComparison.OrdinalIgnoreCase);
        }
        // Every line of the PEM body, wherever it may have been cut.
        foreach (var line in pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)))
        {
            Assert.DoesNotContain(line.Trim(), text, StringComparison.Ordinal);
        }
        // And yet what it holds is the snapshot, keys included.
        var loaded = SnapshotData.Parser.ParseFrom(NewCache().Load()!.Payload);
        Assert.Equal(pem, loaded.Certificates.Single().PrivateKeyPem);
        Assert.Equal(cookieKey, loaded.Pools.Single().SessionPersistence.HmacKey.ToByteArray());
    }

    [Fact]
    public void Load_WithAnotherKeyInTheKeyFile_IsAColdStart_WithALogLine_AndTheNextSaveUsesTheNewKey()
    {
        NewCache().Save(Sample(1));
        File.WriteAllText(KeyFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");

        var cache = NewCache();
        Assert.Null(cache.Load());

        Assert.Contains(_log.Entries, e => e.EventId == 5003 && e.Message.Contains("sealed under another key", StringComparison.Ordinal) && e.Message.Contains(KeyFile, StringComparison.Ordinal));
        cache.Save(Sample(2));
        Assert.Equal(Sample(2), NewCache().Load());
    }

    [Fact]
    public void Load_KeyFileMissing_IsAColdStart_WithALogLine_AndANewKeyIsMadeAtTheNextSave()
    {
        NewCache().Save(Sample(1));
        var oldKey = File.ReadAllText(KeyFile);
        File.Delete(KeyFile);

        var cache = NewCache();
        Assert.Null(cache.Load());

        Assert.Contains(_log.Entries, e => e.EventId == 5003 && e.Message.Contains($"key file {KeyFile} is missing", StringComparison.Ordinal));
        cache.Save(Sample(2));
        Assert.NotEqual(oldKey, File.ReadAllText(KeyFile));
        Assert.Equal(Sample(2), NewCache().Load());
    }

    [Theory]
    [InlineData("not base64 at all!")]
    [InlineData("c2hvcnQ=")]
    public void KeyFileThatHoldsNoKey_LoadIsAColdStart_AndSaveWritesNothingInClear(string content)
    {
        NewCache().Save(Sample(1));
        File.WriteAllText(KeyFile, content);

        var cache = NewCache();
        Assert.Null(cache.Load());
        cache.Save(Sample(2));

        Assert.Contains(_log.Entries, e => e.EventId == 5003);
        Assert.Contains(_log.Entries, e => e.EventId == 5004 && e.Message.Contains(KeyFile, StringComparison.Ordinal));
        Assert.Equal(content, File.ReadAllText(KeyFile));
        Assert.False(File.Exists(UnsealedFile));
        Assert.DoesNotContain("payload 2", Encoding.Latin1.GetString(File.ReadAllBytes(CacheFile)), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AlteredSealedFile_IsAColdStart()
    {
        NewCache().Save(Sample(1));
        var bytes = File.ReadAllBytes(CacheFile);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(CacheFile, bytes);

        Assert.Null(NewCache().Load());
        Assert.Contains(_log.Entries, e => e.EventId == 5003 && e.Message.Contains("altered", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_UnsealedCacheOfAnEarlierVersion_IsServedOnce_ThenRewrittenSealed()
    {
        Directory.CreateDirectory(CacheFolder);
        File.WriteAllBytes(UnsealedFile, Sample(6).ToByteArray());
        File.WriteAllBytes(UnsealedFile + ".tmp", Sample(7).ToByteArray());

        Assert.Equal(Sample(6), NewCache().Load());

        Assert.False(File.Exists(UnsealedFile), "the clear copy is gone");
        Assert.False(File.Exists(UnsealedFile + ".tmp"), "and its leftover from a crash");
        Assert.DoesNotContain("PRIVATE KEY", Encoding.Latin1.GetString(File.ReadAllBytes(CacheFile)), StringComparison.Ordinal);
        Assert.Contains(_log.Entries, e => e.EventId == 5005);
        Assert.Equal(Sample(6), NewCache().Load());
    }

    [Fact]
    public void KeyFileOption_IsWhereTheKeyGoes()
    {
        var keyFile = Path.Combine(_root, "state", "cache.key");

        NewCache(keyFile: keyFile).Save(Sample(3));

        Assert.True(File.Exists(keyFile));
        Assert.False(File.Exists(KeyFile));
        Assert.Equal(Sample(3), NewCache(keyFile: keyFile).Load());
        // The default key file does not exist: without the right one the cache cannot be opened.
        Assert.Null(NewCache().Load());
        Assert.Contains("is missing", Logged, StringComparison.Ordinal);
    }
}
