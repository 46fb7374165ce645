using System.Security.Cryptography;

namespace LoadBalancer.Agent.Cache;

/// <summary>
/// The file holding the key that seals the snapshot cache: 32 random bytes in base64, mode 0600,
/// outside the cache folder (by default beside it, CACHE.key), so that a copy or backup of the
/// cache folder alone carries no usable key material.
/// </summary>
internal static class CacheKeyFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Where the key lives unless --cache-key-file says otherwise: beside the cache folder, named after it.</summary>
    public static string DefaultPath(string cacheDirectory) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(cacheDirectory)) + ".key";

    /// <summary>Whether <paramref name="keyFile"/> lies inside <paramref name="cacheDirectory"/> (where a copy of the folder would take it along).</summary>
    public static bool IsInside(string keyFile, string cacheDirectory)
    {
        var folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(cacheDirectory)) + Path.DirectorySeparatorChar;
        return Path.GetFullPath(keyFile).StartsWith(folder, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    /// <summary>The key in <paramref name="path"/>, or null when there is no such file.</summary>
    /// <exception cref="InvalidDataException">The file holds no base64 key of 32 bytes.</exception>
    public static byte[]? Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"{path} does not hold a base64 key");
        }
        if (key.Length != CacheSeal.KeySize)
        {
            throw new InvalidDataException($"{path} holds a key of {key.Length} bytes, not {CacheSeal.KeySize}");
        }
        return key;
    }

    /// <summary>
    /// The key in <paramref name="path"/>, made on first use: written 0600 under a temporary name,
    /// fsynced, then moved into place without replacing a key that appeared meanwhile (another
    /// process's wins), and the folder's entry flushed.
    /// </summary>
    public static byte[] ReadOrCreate(string path)
    {
        if (Read(path) is { } existing)
        {
            return existing;
        }
        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, OwnerOnly | UnixFileMode.UserExecute);
        }
        var key = RandomNumberGenerator.GetBytes(CacheSeal.KeySize);
        var temp = $"{fullPath}.tmp-{Guid.NewGuid():N}";
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(key) + "\n"));
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temp, fullPath, overwrite: false);
            }
            catch (IOException) when (File.Exists(fullPath))
            {
                return Read(fullPath) ?? throw new InvalidDataException($"{fullPath} appeared empty");
            }
            DirectoryFlush.TryFlush(folder);
            return key;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
