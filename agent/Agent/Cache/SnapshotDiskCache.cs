using Google.Protobuf;
using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Cache;

/// <summary>
/// The last snapshot the agent applied, on disk, so that an agent restarted while the control
/// plane is down serves at once (static stability). Written atomically (write, fsync, rename, fsync the folder)
/// and readable by its owner only: it holds private keys.
/// </summary>
internal sealed partial class SnapshotDiskCache(AgentOptions options, ILogger<SnapshotDiskCache> logger)
{
    private const string FileName = "snapshot.pb";

    private string PathOf => Path.Combine(options.CacheDirectory, FileName);

    public void Save(Snapshot snapshot)
    {
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
                snapshot.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, PathOf, overwrite: true);
            // The rename is durable only once the folder's entry is on disk too.
            DirectoryFlush.TryFlush(options.CacheDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Serving matters more than caching: log and carry on.
            Log.SaveFailed(logger, PathOf, ex.Message);
        }
    }

    public Snapshot? Load()
    {
        try
        {
            if (!File.Exists(PathOf))
            {
                return null;
            }
            using var stream = File.OpenRead(PathOf);
            return Snapshot.Parser.ParseFrom(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidProtocolBufferException)
        {
            Log.LoadFailed(logger, PathOf, ex.Message);
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Cannot write the snapshot cache {Path}: {Reason}")]
        public static partial void SaveFailed(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Cannot read the snapshot cache {Path}: {Reason}")]
        public static partial void LoadFailed(ILogger logger, string path, string reason);
    }
}
