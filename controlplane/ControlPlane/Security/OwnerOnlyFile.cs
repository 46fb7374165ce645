namespace LoadBalancer.ControlPlane.Security;

/// <summary>Files with secrets: created 0600 and replaced by rename, so never briefly readable by others.</summary>
public static class OwnerOnlyFile
{
    public static void WriteAtomically(string path, string content)
    {
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
