using System.Net;
using Google.Protobuf;
using LoadBalancer.Agent.Cache;
using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancer.Agent.Tests.Cache;

public sealed class SnapshotDiskCacheTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agent-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private SnapshotDiskCache NewCache(string? directory = null) => new(
        new AgentOptions
        {
            ControlPlanes = [new Uri("http://127.0.0.1:1")],
            Tier = "edge",
            Name = "a1",
            CacheDirectory = directory ?? _directory,
            AdminUrl = "http://127.0.0.1:0",
            BindAddress = IPAddress.Loopback,
        },
        NullLogger<SnapshotDiskCache>.Instance);

    private static Snapshot Sample(long revision) => new()
    {
        Revision = revision,
        Hash = "abc" + revision,
        Payload = ByteString.CopyFromUtf8("-----BEGIN PRIVATE KEY----- payload " + revision),
    };

    private string CacheFile => Path.Combine(_directory, "snapshot.pb");

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
    public void Save_FileIsReadableByItsOwnerOnly()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        NewCache().Save(Sample(1));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CacheFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_directory));
    }

    [Fact]
    public void Save_OverAFileWithWiderMode_LeavesMode0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        Directory.CreateDirectory(_directory);
        File.WriteAllBytes(CacheFile, [1, 2, 3]);
        File.SetUnixFileMode(CacheFile, (UnixFileMode)0b110_100_100);

        NewCache().Save(Sample(2));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CacheFile));
    }

    [Fact]
    public void Save_LeavesNoTemporaryFileBehind()
    {
        var cache = NewCache();

        cache.Save(Sample(1));
        cache.Save(Sample(2));

        Assert.Equal(["snapshot.pb"], Directory.GetFiles(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void Save_StaleTemporaryFileFromACrash_IsReplacedAndRemoved()
    {
        Directory.CreateDirectory(_directory);
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
        Directory.CreateDirectory(_directory);
        File.WriteAllBytes(CacheFile, content);

        Assert.Null(NewCache().Load());
    }

    [Fact]
    public void Load_NothingSaved_ReturnsNull() => Assert.Null(NewCache().Load());

    [Fact]
    public void Save_DirectoryCannotBeCreated_DoesNotThrow()
    {
        Directory.CreateDirectory(_directory);
        var file = Path.Combine(_directory, "a-file");
        File.WriteAllText(file, "x");
        var cache = NewCache(Path.Combine(file, "sub"));

        cache.Save(Sample(1));

        Assert.Null(cache.Load());
    }
}
