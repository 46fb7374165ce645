using Google.Protobuf;
using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Cache;

/// <summary>
/// The last snapshot the agent applied, on disk, so that an agent restarted while the control
/// plane is down serves at once (static stability). It holds the tier's private keys and cookie
/// keys, so it is sealed (<see cref="CacheSeal"/>) under a key kept in a file of its own outside
/// the cache folder (<see cref="CacheKeyFile"/>), written atomically (write, fsync, rename, fsync
/// the folder) and readable by its owner only. A cache that cannot be opened (key file missing or
/// different, data altered) is a cold start: the agent waits for the control plane.
/// </summary>
internal sealed partial class SnapshotDiskCache(AgentOptions options, ILogger<SnapshotDiskCache> logger)
{
    public const string FileName = "snapshot.sealed";

    /// <summary>What agents before sealing wrote: the snapshot in clear. Read once, then replaced by the sealed file.</summary>
    public const string UnsealedFileName = "snapshot.pb";

    private string PathOf => Path.Combine(options.CacheDirectory, FileName);

    private string UnsealedPath => Path.Combine(options.CacheDirectory, UnsealedFileName);

    private string KeyPath => options.CacheKeyFile ?? CacheKeyFile.DefaultPath(options.CacheDirectory);

    public void Save(Snapshot snapshot)
    {
        byte[] key;
        try
        {
            key = CacheKeyFile.ReadOrCreate(KeyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // Never written in clear instead: without its key the cache is simply not kept.
            Log.KeyUnavailable(logger, PathOf, KeyPath, ex.Message);
            return;
        }
        try
        {
            Directory.CreateDirectory(options.CacheDirectory);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(options.CacheDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var temp = PathOf + ".tmp";
            var fileOptions = new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                Share = FileShare.None,
            };
            if (!OperatingSystem.IsWindows())
            {
                fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var stream = new FileStream(temp, fileOptions))
            {
                stream.Write(CacheSeal.Seal(snapshot.ToByteArray(), key));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, PathOf, overwrite: true);
            // The rename is durable only once the folder's entry is on disk too.
            DirectoryFlush.TryFlush(options.CacheDirectory);
            // The clear copy an earlier version wrote (and its leftover from a crash) goes once the sealed one is in place.
            File.Delete(UnsealedPath);
            File.Delete(UnsealedPath + ".tmp");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Serving matters more than caching: log and carry on.
            Log.SaveFailed(logger, PathOf, ex.Message);
        }
    }

    public Snapshot? Load()
    {
        if (File.Exists(PathOf))
        {
            return LoadSealed();
        }
        return File.Exists(UnsealedPath) ? LoadUnsealed() : null;
    }

    private Snapshot? LoadSealed()
    {
        byte[]? key;
        try
        {
            key = CacheKeyFile.Read(KeyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            Log.ColdStart(logger, PathOf, $"its key file cannot be read ({ex.Message})");
            return null;
        }
        if (key is null)
        {
            Log.ColdStart(logger, PathOf, $"its key file {KeyPath} is missing");
            return null;
        }
        try
        {
            return Snapshot.Parser.ParseFrom(CacheSeal.Open(File.ReadAllBytes(PathOf), key));
        }
        catch (CacheSealException ex)
        {
            Log.ColdStart(logger, PathOf, $"{ex.Message}; key file {KeyPath}");
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidProtocolBufferException)
        {
            Log.LoadFailed(logger, PathOf, ex.Message);
            return null;
        }
    }

    /// <summary>A cache from before sealing: served once, and sealed at once rather than at the next snapshot (the control plane may be down for long).</summary>
    private Snapshot? LoadUnsealed()
    {
        Snapshot snapshot;
        try
        {
            using var stream = File.OpenRead(UnsealedPath);
            snapshot = Snapshot.Parser.ParseFrom(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidProtocolBufferException)
        {
            Log.LoadFailed(logger, UnsealedPath, ex.Message);
            return null;
        }
        Log.Unsealed(logger, UnsealedPath, PathOf);
        Save(snapshot);
        return snapshot;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Cannot write the snapshot cache {Path}: {Reason}")]
        public static partial void SaveFailed(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Cannot read the snapshot cache {Path}: {Reason}")]
        public static partial void LoadFailed(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Cannot open the sealed snapshot cache {Path}: {Reason}. Starting cold: nothing is served until the control plane sends a snapshot, which is then cached under the current key")]
        public static partial void ColdStart(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "The snapshot is not cached ({Path}): its key file {KeyFile} cannot be read or made: {Reason}. A restart while the control plane is down will start cold")]
        public static partial void KeyUnavailable(ILogger logger, string path, string keyFile, string reason);

        [LoggerMessage(EventId = 5005, Level = LogLevel.Information, Message = "Read the unsealed snapshot cache {Path} of an earlier version; it is rewritten sealed as {SealedPath} and removed")]
        public static partial void Unsealed(ILogger logger, string path, string sealedPath);
    }
}
