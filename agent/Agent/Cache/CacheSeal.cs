using System.Security.Cryptography;
using System.Text;

namespace LoadBalancer.Agent.Cache;

/// <summary>Why a sealed cache cannot be opened; the message says which file problem it is.</summary>
internal sealed class CacheSealException(string message) : Exception(message);

/// <summary>
/// The sealed form of the snapshot cache: AES-256-GCM over the whole serialized snapshot, so the
/// private keys and cookie keys in it are never on disk in clear, and a cache that was altered is
/// refused rather than served. Layout: "lbsc" | version (1) | key id (8) | nonce (12) | tag (16) |
/// ciphertext; the first 13 bytes are the associated data. The key id (a hash of the key) tells
/// "sealed under another key" apart from "damaged".
/// </summary>
internal static class CacheSeal
{
    public const int KeySize = 32;
    private const byte FormatVersion = 1;
    private const int MagicSize = 4;
    private const int KeyIdSize = 8;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int AssociatedSize = MagicSize + 1 + KeyIdSize;
    private const int HeaderSize = AssociatedSize + NonceSize + TagSize;

    private static ReadOnlySpan<byte> Magic => "lbsc"u8;

    public static byte[] Seal(ReadOnlySpan<byte> plaintext, byte[] key)
    {
        CheckKey(key);
        var blob = new byte[HeaderSize + plaintext.Length];
        Magic.CopyTo(blob);
        blob[MagicSize] = FormatVersion;
        KeyId(key).CopyTo(blob.AsSpan(MagicSize + 1, KeyIdSize));
        var nonce = blob.AsSpan(AssociatedSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(HeaderSize), blob.AsSpan(AssociatedSize + NonceSize, TagSize), blob.AsSpan(0, AssociatedSize));
        return blob;
    }

    /// <exception cref="CacheSealException">Not a sealed cache, sealed under another key, or altered.</exception>
    public static byte[] Open(ReadOnlySpan<byte> blob, byte[] key)
    {
        CheckKey(key);
        if (blob.Length < HeaderSize || !blob[..MagicSize].SequenceEqual(Magic) || blob[MagicSize] != FormatVersion)
        {
            throw new CacheSealException("it is not a sealed snapshot cache of a known format");
        }
        if (!blob.Slice(MagicSize + 1, KeyIdSize).SequenceEqual(KeyId(key)))
        {
            throw new CacheSealException("it was sealed under another key than the one in the key file (was the key file replaced or lost?)");
        }
        var plaintext = new byte[blob.Length - HeaderSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(blob.Slice(AssociatedSize, NonceSize), blob[HeaderSize..], blob.Slice(AssociatedSize + NonceSize, TagSize), plaintext, blob[..AssociatedSize]);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new CacheSealException("it was altered or damaged (authentication failed)");
        }
        return plaintext;
    }

    private static byte[] KeyId(byte[] key) =>
        SHA256.HashData([.. Encoding.ASCII.GetBytes("lb-agent-cache-key-id:"), .. key])[..KeyIdSize];

    private static void CheckKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"the cache key must be {KeySize} bytes", nameof(key));
        }
    }
}
