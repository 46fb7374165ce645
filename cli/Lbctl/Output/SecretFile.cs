using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Output;

/// <summary>
/// A file holding secrets (token create --output-file, export --include-keys -o). It is written
/// to a new file created with mode 0600
/// (never briefly world-readable, whatever the mode of a file it replaces), which is then
/// renamed over the target: a failed call leaves an existing file as it was.
/// </summary>
internal sealed class SecretFile : IDisposable
{
    private readonly string _temporary;
    private FileStream? _stream;

    private SecretFile(string path, string temporary, FileStream stream)
    {
        Path = path;
        _temporary = temporary;
        _stream = stream;
    }

    public string Path { get; }

    /// <summary>Creates the temporary file beside <paramref name="path"/>, so that the rename stays on one file system.</summary>
    public static SecretFile Reserve(string path)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            return new SecretFile(path, temporary, new FileStream(temporary, options));
        }
        catch (DirectoryNotFoundException ex)
        {
            // The exception names the temporary file, which the user never asked for.
            throw new CliException($"cannot write {path}: folder {System.IO.Path.GetDirectoryName(path)} does not exist", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {path}: {ex.Message}", ex);
        }
    }

    public void Commit(string text)
    {
        var stream = _stream ?? throw new InvalidOperationException("the secret file was already written");
        using (var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
        {
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        _stream = null;
        File.Move(_temporary, Path, overwrite: true);
    }

    /// <summary>Removes the temporary file unless <see cref="Commit"/> renamed it.</summary>
    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        try
        {
            File.Delete(_temporary);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the file is 0600 and, when Commit failed, holds at most what was being written.
        }
    }
}
