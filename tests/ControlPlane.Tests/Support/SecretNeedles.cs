using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Recognizable pieces of secrets (each PEM line of a private key, its DER encodings, its
/// private numbers in binary and hex; a token's bearer string, its secret, halves of it and
/// its raw bytes) to search for in files, responses and logs.
/// </summary>
internal sealed class SecretNeedles
{
    private readonly List<(string Label, byte[] Bytes)> _needles = [];

    public int Count => _needles.Count;

    /// <summary>Every piece of a PEM private key (PKCS#8, PKCS#1 or SEC1; RSA or ECDSA).</summary>
    public void AddPrivateKey(string label, string privateKeyPem)
    {
        var lines = privateKeyPem.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).ToList();
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].Length >= 16)
            {
                AddText($"{label} PEM line {i + 1}", lines[i]);
            }
        }
        Add($"{label} DER as given", Convert.FromBase64String(string.Concat(lines)));
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(privateKeyPem);
            var p = rsa.ExportParameters(includePrivateParameters: true);
            Add($"{label} PKCS#8 DER", rsa.ExportPkcs8PrivateKey());
            Add($"{label} PKCS#1 DER", rsa.ExportRSAPrivateKey());
            AddNumber($"{label} RSA d", p.D!);
            AddNumber($"{label} RSA p", p.P!);
            AddNumber($"{label} RSA q", p.Q!);
            AddNumber($"{label} RSA dp", p.DP!);
            AddNumber($"{label} RSA dq", p.DQ!);
            AddNumber($"{label} RSA qinv", p.InverseQ!);
            return;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            // Not RSA: try ECDSA below.
        }
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportFromPem(privateKeyPem);
        Add($"{label} PKCS#8 DER", ecdsa.ExportPkcs8PrivateKey());
        Add($"{label} SEC1 DER", ecdsa.ExportECPrivateKey());
        AddNumber($"{label} EC d", ecdsa.ExportParameters(includePrivateParameters: true).D!);
    }

    /// <summary>A bearer token "lbt_ID_SECRET": the whole string, the secret, its first and last 16 characters and its raw bytes.</summary>
    public void AddToken(string label, string bearer)
    {
        AddText($"{label} bearer", bearer);
        var secret = bearer[(bearer.IndexOf('_', 4) + 1)..];
        AddText($"{label} secret", secret);
        AddText($"{label} secret start", secret[..16]);
        AddText($"{label} secret end", secret[^16..]);
        Add($"{label} secret bytes", Base64Url.DecodeFromChars(secret));
    }

    public void AddText(string label, string text) => Add(label, Encoding.UTF8.GetBytes(text));

    public void Add(string label, byte[] bytes) => _needles.Add((label, bytes));

    /// <summary>The labels of every needle found in <paramref name="haystack"/>.</summary>
    public IReadOnlyList<string> FoundIn(ReadOnlySpan<byte> haystack)
    {
        var found = new List<string>();
        foreach (var (label, bytes) in _needles)
        {
            if (haystack.IndexOf(bytes) >= 0)
            {
                found.Add(label);
            }
        }
        return found;
    }

    public IReadOnlyList<string> FoundIn(string text) => FoundIn(Encoding.UTF8.GetBytes(text));

    private void AddNumber(string label, byte[] value)
    {
        Add(label, value);
        AddText(label + " hex", Convert.ToHexStringLower(value));
        AddText(label + " HEX", Convert.ToHexString(value));
        AddText(label + " base64", Convert.ToBase64String(value));
    }
}
