using System.Runtime.InteropServices;

namespace LoadBalancer.Agent.Cache;

/// <summary>
/// fsync of a directory, so that a rename into it survives a power loss: the renamed file's data
/// is on disk, but the directory entry pointing at it is not until the directory is flushed.
/// .NET cannot open a directory as a file, hence libc.
/// </summary>
internal static class DirectoryFlush
{
    private const int ReadOnly = 0;

    /// <summary>Flushes <paramref name="directory"/>; false where the platform cannot (Windows) or the call failed.</summary>
    public static bool TryFlush(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }
        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            return false;
        }
        try
        {
            return Fsync(fd) == 0;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
