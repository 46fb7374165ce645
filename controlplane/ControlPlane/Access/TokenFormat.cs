using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace LoadBalancer.ControlPlane.Access;

/// <summary>
/// Bearer tokens look like <c>lbt_ID_SECRET</c>: a public id (48 random bits, hex) to find the
/// row, and a secret (256 random bits, base64url) of which only the SHA-256 is stored.
/// </summary>
public static class TokenFormat
{
    private const string Prefix = "lbt_";
    private const int IdBytes = 6;
    private const int SecretBytes = 32;

    public static string NewId() => "t-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdBytes));

    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));

    public static string Compose(string id, string secret) => Prefix + id + "_" + secret;

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>Splits a bearer token; false for anything not shaped like one of ours (never throws).</summary>
    public static bool TryParse(string? token, out string id, out string secret)
    {
        id = "";
        secret = "";
        // Bounded before any work: a hostile header must not cost more than a short string check.
        if (token is null || token.Length > 200 || !token.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = token.AsSpan(Prefix.Length);
        var separator = rest.IndexOf('_');
        // Ids are "t-" + hex, so the first '_' ends the id even though base64url secrets contain '_'.
        if (separator <= 0 || separator == rest.Length - 1)
        {
            return false;
        }
        id = rest[..separator].ToString();
        secret = rest[(separator + 1)..].ToString();
        return true;
    }
}
