using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace LoadBalancer.Agent.Persistence;

/// <summary>
/// The persistence cookie: "EXPIRY.BACKEND.MAC", where MAC is an HMAC-SHA256 (truncated to 128
/// bits) of pool, backend and expiry under the pool's key, which the control plane generates
/// and gives to every agent of the tier. Any agent can read a cookie another wrote; a client
/// cannot choose or forge a backend, and only backends of the pool are ever looked up.
/// </summary>
public static class SessionCookie
{
    private const int MacBytes = 16;

    public static string Encode(ReadOnlySpan<byte> key, string pool, string backend, long expiresUnixSeconds)
    {
        var expires = expiresUnixSeconds.ToString(CultureInfo.InvariantCulture);
        var name = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(backend));
        Span<byte> mac = stackalloc byte[32];
        Compute(key, pool, backend, expires, mac);
        return $"{expires}.{name}.{Base64Url.EncodeToString(mac[..MacBytes])}";
    }

    /// <summary>The backend name of a genuine, unexpired cookie of this pool; null otherwise.</summary>
    public static string? Decode(ReadOnlySpan<byte> key, string pool, string? value, long nowUnixSeconds)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 512 || key.IsEmpty)
        {
            return null;
        }
        var parts = value.Split('.');
        if (parts.Length != 3
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            || expires < nowUnixSeconds)
        {
            return null;
        }
        try
        {
            var backend = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1]));
            var given = Base64Url.DecodeFromChars(parts[2]);
            Span<byte> mac = stackalloc byte[32];
            Compute(key, pool, backend, parts[0], mac);
            return given.Length == MacBytes && CryptographicOperations.FixedTimeEquals(given, mac[..MacBytes]) ? backend : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static void Compute(ReadOnlySpan<byte> key, string pool, string backend, string expires, Span<byte> mac)
    {
        var message = Encoding.UTF8.GetBytes($"{pool}\n{backend}\n{expires}");
        HMACSHA256.HashData(key, message, mac);
    }
}
