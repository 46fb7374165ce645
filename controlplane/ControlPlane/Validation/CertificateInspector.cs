using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>What the control plane records about a certificate chain (its status fields).</summary>
public sealed record CertificateInfo(
    string Subject,
    IReadOnlyList<string> DnsNames,
    string Issuer,
    DateTime NotBefore,
    DateTime NotAfter,
    string FingerprintSha256,
    byte[] LeafPublicKeyInfo);

/// <summary>
/// Parses and checks certificate chains and private keys. Errors never quote key material.
/// </summary>
public static partial class CertificateInspector
{
    public const int MaxCertificatePemBytes = 256 * 1024;
    public const int MaxPrivateKeyPemBytes = 64 * 1024;
    public const int MinRsaKeyBits = 2048;
    public static readonly TimeSpan ExpiryWarningWindow = TimeSpan.FromDays(30);
    private const string RsaKeyOid = "1.2.840.113549.1.1.1";
    private const string EcKeyOid = "1.2.840.10045.2.1";

    /// <summary>Checks the chain; returns its info, or null after adding violations for <paramref name="field"/>.</summary>
    public static CertificateInfo? InspectChain(string pem, DateTime nowUtc, Violations violations, string field)
    {
        if (pem.Length > MaxCertificatePemBytes)
        {
            violations.Add(field, $"must be at most {MaxCertificatePemBytes / 1024} KiB");
            return null;
        }
        if (!CheckOnlyCertificateBlocks(pem, violations, field))
        {
            return null;
        }
        var certificates = new List<X509Certificate2>();
        try
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPem(pem);
            certificates.AddRange(collection);
        }
        catch (CryptographicException ex)
        {
            violations.Add(field, $"is not a valid PEM certificate chain ({ex.Message})");
            return null;
        }
        if (certificates.Count == 0)
        {
            violations.Add(field, "contains no PEM certificate (-----BEGIN CERTIFICATE-----)");
            return null;
        }
        try
        {
            var leaf = certificates[0];
            var ok = true;
            for (var i = 0; i + 1 < certificates.Count; i++)
            {
                if (!certificates[i].IssuerName.RawData.AsSpan().SequenceEqual(certificates[i + 1].SubjectName.RawData))
                {
                    violations.Add(field, $"certificate {i + 1} ({certificates[i].Subject}) is not issued by certificate {i + 2} ({certificates[i + 1].Subject}); order must be leaf first, then each issuer");
                    ok = false;
                }
                else if (CertificateSignatures.IsSignedBy(certificates[i], certificates[i + 1]) == false)
                {
                    // The names match but another key signed it: a re-keyed or stale intermediate,
                    // which clients would reject.
                    violations.Add(field, $"certificate {i + 1} ({certificates[i].Subject}) is not signed by the key of certificate {i + 2} ({certificates[i + 1].Subject}), although that one has its issuer's name; give the issuer certificate that signed it");
                    ok = false;
                }
            }
            var isCa = IsCaCertificate(leaf);
            if (isCa is null)
            {
                violations.Add(field, "the leaf's basicConstraints extension cannot be read");
                ok = false;
            }
            else if (isCa.Value)
            {
                ok &= CheckCaAsLeaf(certificates, violations, field);
            }
            var notBefore = leaf.NotBefore.ToUniversalTime();
            var notAfter = leaf.NotAfter.ToUniversalTime();
            if (notAfter <= nowUtc)
            {
                violations.Add(field, $"the leaf certificate expired at {notAfter:yyyy-MM-ddTHH:mm:ssZ}");
                ok = false;
            }
            else if (notAfter - nowUtc < ExpiryWarningWindow)
            {
                violations.Warn(field, $"the leaf certificate expires at {notAfter:yyyy-MM-ddTHH:mm:ssZ}, in {Math.Max(0, (int)Math.Round((notAfter - nowUtc).TotalDays))} days; rotate it soon (lbctl cert rotate)");
            }
            if (notBefore > nowUtc)
            {
                violations.Add(field, $"the leaf certificate is not valid before {notBefore:yyyy-MM-ddTHH:mm:ssZ}");
                ok = false;
            }
            if (RsaKeyBits(leaf) is { } bits && bits < MinRsaKeyBits)
            {
                violations.Add(field, bits == 0
                    ? "the leaf's RSA public key cannot be read"
                    : $"the leaf's RSA key has {bits} bits; at least {MinRsaKeyBits} are required");
                ok = false;
            }
            if (leaf.PublicKey.Oid.Value is not (RsaKeyOid or EcKeyOid))
            {
                violations.Add(field, "the leaf's key must be RSA or ECDSA");
                ok = false;
            }
            if (!ok)
            {
                return null;
            }
            return new CertificateInfo(
                leaf.Subject,
                ReadDnsNames(leaf),
                leaf.Issuer,
                notBefore,
                notAfter,
                Convert.ToHexStringLower(SHA256.HashData(leaf.RawData)),
                leaf.PublicKey.ExportSubjectPublicKeyInfo());
        }
        finally
        {
            foreach (var certificate in certificates)
            {
                certificate.Dispose();
            }
        }
    }

    /// <summary>
    /// The first certificate has CA:TRUE. OpenSSL 3's <c>openssl req -x509</c> marks every
    /// certificate it makes so, and nginx, HAProxy and Envoy serve one: a lone self-signed
    /// certificate is accepted as the leaf, with a warning. A CA placed before the certificate
    /// it issued, or a CA that is not self-signed given alone, is refused, saying which it is.
    /// </summary>
    private static bool CheckCaAsLeaf(List<X509Certificate2> certificates, Violations violations, string field)
    {
        const string SelfSignedHint = "for a test certificate, lbctl cert self-signed makes a CA and a server certificate it signs";
        var first = certificates[0];
        if (certificates.Count > 1 && IsIssuerOf(first, certificates[1]))
        {
            violations.Add(field, "the first certificate is the CA that issued the second: put the server (leaf) certificate first, then each issuer");
            return false;
        }
        if (certificates.Count == 1 && IsSelfSigned(first))
        {
            violations.Warn(field, "is a self-signed certificate marked CA:TRUE (as openssl req -x509 makes by default); it is served as the server certificate, but browsers and clients trust it only once it is imported; " + SelfSignedHint);
            return true;
        }
        violations.Add(field, certificates.Count == 1
            ? "the only certificate is a CA certificate (CA:TRUE) issued by another CA, not a server certificate; give the server certificate first, then its chain; " + SelfSignedHint
            : "the first (leaf) certificate is a CA certificate (CA:TRUE); put the server certificate first, then its chain; " + SelfSignedHint);
        return false;
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) =>
        certificate.IssuerName.RawData.AsSpan().SequenceEqual(certificate.SubjectName.RawData)
        && CertificateSignatures.IsSignedBy(certificate, certificate) != false;

    private static bool IsIssuerOf(X509Certificate2 issuer, X509Certificate2 certificate) =>
        certificate.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData)
        && CertificateSignatures.IsSignedBy(certificate, issuer) != false;

    /// <summary>
    /// Adds a violation when <paramref name="pem"/> holds any PEM block but CERTIFICATE. ImportFromPem
    /// skips blocks it does not know, so a key pasted into a certificate field would otherwise be
    /// accepted and stored (and returned) in the clear. The message never quotes the block.
    /// </summary>
    public static bool CheckOnlyCertificateBlocks(string pem, Violations violations, string field)
    {
        foreach (Match begin in PemBeginLine().Matches(pem))
        {
            var label = begin.Groups[1].Value.Trim();
            if (label == "CERTIFICATE")
            {
                continue;
            }
            violations.Add(field, label.Contains("PRIVATE KEY", StringComparison.Ordinal)
                ? "holds a private key; only CERTIFICATE blocks belong here (a key goes in privateKeyPem)"
                : $"holds a PEM block labelled '{ClipLabel(label)}'; only CERTIFICATE blocks belong here");
            return false;
        }
        return true;
    }

    /// <summary>Checks that <paramref name="keyPem"/> is an RSA or ECDSA private key matching the leaf's public key.</summary>
    public static bool CheckPrivateKey(string keyPem, CertificateInfo leaf, Violations violations, string field)
    {
        if (keyPem.Length > MaxPrivateKeyPemBytes)
        {
            violations.Add(field, $"must be at most {MaxPrivateKeyPemBytes / 1024} KiB");
            return false;
        }
        // openssl ecparam -genkey writes an EC PARAMETERS block before the SEC1 key: walk the
        // blocks, skip parameters, and take the one private key.
        string? label = null;
        string? keyBlock = null;
        var offset = 0;
        while (PemEncoding.TryFind(keyPem.AsSpan(offset), out var fields))
        {
            var blockLabel = keyPem.AsSpan(offset)[fields.Label].ToString();
            var (start, length) = fields.Location.GetOffsetAndLength(keyPem.Length - offset);
            if (blockLabel != "EC PARAMETERS")
            {
                if (label is not null)
                {
                    violations.Add(field, "holds more than one key block; provide exactly one private key");
                    return false;
                }
                label = blockLabel;
                keyBlock = keyPem.Substring(offset + start, length);
            }
            offset += start + length;
        }
        if (label is null || keyBlock is null)
        {
            violations.Add(field, "is not a PEM private key");
            return false;
        }
        if (label is not ("PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY"))
        {
            violations.Add(field, label == "ENCRYPTED PRIVATE KEY"
                ? "encrypted private keys are not supported; provide an unencrypted PKCS#1, PKCS#8 or SEC1 key"
                : $"a PEM block labelled '{ClipLabel(label)}' is not a private key (PKCS#1, PKCS#8 or SEC1 expected)");
            return false;
        }
        byte[]? publicKeyInfo = TryExport(() => RSA.Create(), keyBlock, label is "PRIVATE KEY" or "RSA PRIVATE KEY")
            ?? TryExport(() => ECDsa.Create(), keyBlock, label is "PRIVATE KEY" or "EC PRIVATE KEY");
        if (publicKeyInfo is null)
        {
            violations.Add(field, "cannot be parsed as an RSA or ECDSA private key");
            return false;
        }
        if (!publicKeyInfo.AsSpan().SequenceEqual(leaf.LeafPublicKeyInfo))
        {
            violations.Add(field, "does not match the public key of the leaf certificate");
            return false;
        }
        return true;
    }

    private static byte[]? TryExport(Func<AsymmetricAlgorithm> create, string pem, bool applicable)
    {
        if (!applicable)
        {
            return null;
        }
        using var key = create();
        try
        {
            key.ImportFromPem(pem);
            return key.ExportSubjectPublicKeyInfo();
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The SubjectPublicKeyInfo of the leaf of an already validated chain.</summary>
    public static byte[] LeafPublicKeyInfo(string pem)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(pem);
        try
        {
            return collection[0].PublicKey.ExportSubjectPublicKeyInfo();
        }
        finally
        {
            foreach (var certificate in collection)
            {
                certificate.Dispose();
            }
        }
    }

    private static List<string> ReadDnsNames(X509Certificate2 leaf)
    {
        var names = new List<string>();
        foreach (var extension in leaf.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                try
                {
                    names.AddRange(san.EnumerateDnsNames().Select(n => n.ToLowerInvariant()));
                }
                catch (Exception ex) when (ex is CryptographicException or AsnContentException)
                {
                    // A malformed SAN leaves the list empty; the chain itself was accepted by the platform.
                }
            }
        }
        return names;
    }

    // A certificate that parses can still carry extensions or key bits that do not (hostile or
    // broken input): reading them must give a violation, never an exception.
    private static bool? IsCaCertificate(X509Certificate2 certificate)
    {
        try
        {
            return certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true };
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or AsnContentException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The RSA key size, 0 when the key is marked RSA but unreadable, null when not RSA.</summary>
    private static int? RsaKeyBits(X509Certificate2 certificate)
    {
        if (certificate.PublicKey.Oid.Value != RsaKeyOid)
        {
            return null;
        }
        try
        {
            using var rsa = certificate.GetRSAPublicKey();
            return rsa?.KeySize ?? 0;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or AsnContentException or FormatException)
        {
            return 0;
        }
    }

    /// <summary>A PEM label as quoted in messages: at most 40 characters of it.</summary>
    private static string ClipLabel(string label) => label.Length <= 40 ? label : label[..40] + "...";

    [GeneratedRegex(@"-----BEGIN ([^-\r\n]*)-----")]
    private static partial Regex PemBeginLine();
}
