using System.Security.Cryptography;
using System.Text;

namespace LoadBalancer.ControlPlane.Security;

/// <summary>
/// Seals certificate private keys and pools' session-cookie keys with AES-GCM under a key-encryption key kept outside the
/// database (env <c>LB_SECRET_KEY</c>, base64, or DATA/secret.key with mode 0600).
/// Blob layout: version(1) | key id(8) | nonce(12) | tag(16) | ciphertext. The key id is a
/// hash of the key, so a wrong key is reported as such instead of as corrupt data.
/// </summary>
public sealed class SecretProtector
{
    public const string KeyEnvironmentVariable = "LB_SECRET_KEY";
    public const string KeyFileName = "secret.key";
    private const byte FormatVersion = 1;
    private const int KeyIdSize = 8;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int HeaderSize = 1 + KeyIdSize + NonceSize + TagSize;

    private readonly byte[] _key;
    private readonly byte[] _keyId;

    public SecretProtector(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != 32)
        {
            throw new ArgumentException("the key-encryption key must be 32 bytes", nameof(key));
        }
        _key = (byte[])key.Clone();
        _keyId = SHA256.HashData(Encoding.ASCII.GetBytes("lb-kek-id:").Concat(_key).ToArray()).AsSpan(0, KeyIdSize).ToArray();
    }

    /// <summary>Uses <paramref name="base64Key"/> when given, else DATA/secret.key, created on first start.</summary>
    public static SecretProtector LoadOrCreate(string dataDir, string? base64Key)
    {
        if (!string.IsNullOrWhiteSpace(base64Key))
        {
            return new SecretProtector(DecodeKey(base64Key.Trim(), KeyEnvironmentVariable));
        }
        var path = Path.Combine(dataDir, KeyFileName);
        if (File.Exists(path))
        {
            return new SecretProtector(DecodeKey(File.ReadAllText(path).Trim(), path));
        }
        Directory.CreateDirectory(dataDir);
        var key = RandomNumberGenerator.GetBytes(32);
        // Create with 0600 from the start so the key is never readable by others, even briefly.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(Convert.ToBase64String(key));
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new SecretProtector(key);
    }

    private static byte[] DecodeKey(string text, string source)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"the key-encryption key in {source} is not valid base64");
        }
        if (key.Length != 32)
        {
            throw new InvalidOperationException($"the key-encryption key in {source} must be 32 bytes, found {key.Length}");
        }
        return key;
    }

    /// <summary>Whether <paramref name="blob"/> was sealed under this key (by its key id; no decryption).</summary>
    public bool IsSealedByThisKey(byte[] blob) =>
        blob is { Length: >= HeaderSize } && blob[0] == FormatVersion && blob.AsSpan(1, KeyIdSize).SequenceEqual(_keyId);

    public byte[] Protect(string plaintext, string certificateName)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var data = Encoding.UTF8.GetBytes(plaintext);
        try
        {
            return Seal(data, certificateName);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    public string Unprotect(byte[] blob, string certificateName) =>
        Encoding.UTF8.GetString(Open(blob, certificateName, $"the private key of certificate {certificateName}"));

    /// <summary>
    /// Seals a pool's session-cookie key. Bound to the pool by the associated data, in a domain of
    /// its own ("pool:NAME"), so a blob cannot be swapped between pools or with a certificate's.
    /// </summary>
    public byte[] ProtectSessionKey(ReadOnlySpan<byte> key, string poolName) => Seal(key, SessionKeyContext(poolName));

    public byte[] UnprotectSessionKey(byte[] blob, string poolName) =>
        Open(blob, SessionKeyContext(poolName), $"the session-cookie key of pool {poolName}");

    private static string SessionKeyContext(string poolName) => "pool:" + poolName;

    private byte[] Seal(ReadOnlySpan<byte> data, string context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var blob = new byte[HeaderSize + data.Length];
        blob[0] = FormatVersion;
        _keyId.CopyTo(blob.AsSpan(1, KeyIdSize));
        var nonce = blob.AsSpan(1 + KeyIdSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        var tag = blob.AsSpan(1 + KeyIdSize + NonceSize, TagSize);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, data, blob.AsSpan(HeaderSize), tag, Encoding.UTF8.GetBytes(context));
        return blob;
    }

    /// <param name="what">What the blob holds, for the error message.</param>
    private byte[] Open(byte[] blob, string context, string what)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentNullException.ThrowIfNull(context);
        if (blob.Length < HeaderSize || blob[0] != FormatVersion)
        {
            throw new InvalidOperationException($"cannot decrypt {what}: the stored data is not in a known format");
        }
        if (!blob.AsSpan(1, KeyIdSize).SequenceEqual(_keyId))
        {
            throw new InvalidOperationException($"cannot decrypt {what}: the key-encryption key does not match the one it was written with");
        }
        var plaintext = new byte[blob.Length - HeaderSize];
        try
        {
            using var aes = new AesGcm(_key, TagSize);
            aes.Decrypt(blob.AsSpan(1 + KeyIdSize, NonceSize), blob.AsSpan(HeaderSize), blob.AsSpan(1 + KeyIdSize + NonceSize, TagSize),
                plaintext, Encoding.UTF8.GetBytes(context));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidOperationException($"cannot decrypt {what}: the data was altered or belongs to something else");
        }
        return plaintext;
    }
}
