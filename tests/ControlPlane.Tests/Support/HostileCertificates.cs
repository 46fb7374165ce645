using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Certificates and keys that parse as PEM but are wrong in ways a validator must survive:
/// expired, CA as leaf, weak or undecodable keys, unsupported algorithms, malformed extensions.
/// </summary>
internal static class HostileCertificates
{
    public const string UndecodableRsaKeyLabel = "undecodable rsa key";
    public const string MalformedBasicConstraintsLabel = "malformed basic constraints";

    /// <summary>Labelled PEMs; each is a certificate chain or a key, never a matching pair.</summary>
    public static IReadOnlyList<(string Label, string Pem)> All(DateTimeOffset now)
    {
        var list = new List<(string, string)>
        {
            ("expired", TestCertificates.RsaWithValidity("old.example.com", now.AddDays(-30), now.AddDays(-1)).CertificatePem),
            ("not yet valid", TestCertificates.RsaWithValidity("new.example.com", now.AddDays(1), now.AddDays(30)).CertificatePem),
            ("ca as leaf", TestCertificates.RsaWithValidity("ca.example.com", now.AddDays(-1), now.AddDays(30), isCa: true).CertificatePem),
            ("wrong order chain", TestCertificates.Chain("chain.example.com", now, wrongOrder: true).CertificatePem),
            ("far future", FarFuture(now)),
            ("pkcs1 key", TestCertificates.Rsa("k.example.com", now, pkcs1: true).PrivateKeyPem),
            ("sec1 key", TestCertificates.Ecdsa("k.example.com", now, sec1: true).PrivateKeyPem),
            ("encrypted key", EncryptedKey()),
            ("public key", PublicKeyPem()),
        };
        list.Add(("rsa 1024", Weak(now)));
        AddIfLoadable(list, UndecodableRsaKeyLabel, () => UndecodableRsaKey(now));
        AddIfLoadable(list, "ed25519-like key", () => WithPublicKey(now, new PublicKey(new Oid("1.3.101.112"), null, new AsnEncodedData(new byte[32]))));
        AddIfLoadable(list, MalformedBasicConstraintsLabel, () => MalformedBasicConstraints(now));
        AddIfLoadable(list, "malformed san", () => WithExtension(now, new X509Extension("2.5.29.17", [0x30, 0x05, 0x82, 0x10, 0x61], critical: false)));
        return list;
    }

    /// <summary>A leaf whose public key says RSA but whose key bits are not an RSA key (a SEQUENCE holding only 0).</summary>
    public static string UndecodableRsaKey(DateTimeOffset now) =>
        WithPublicKey(now, new PublicKey(new Oid("1.2.840.113549.1.1.1"), new AsnEncodedData([0x05, 0x00]), new AsnEncodedData([0x30, 0x03, 0x02, 0x01, 0x00])));

    /// <summary>A leaf whose basicConstraints extension is truncated DER.</summary>
    public static string MalformedBasicConstraints(DateTimeOffset now) =>
        WithExtension(now, new X509Extension("2.5.29.19", [0x30, 0x03, 0x01, 0x01], critical: false));

    private static void AddIfLoadable(List<(string, string)> list, string label, Func<string> make)
    {
        try
        {
            list.Add((label, make()));
        }
        catch (CryptographicException)
        {
            // The platform refuses to even build it; the validator can never see it either.
        }
    }

    private static string FarFuture(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=far.example.com", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero));
        return certificate.ExportCertificatePem();
    }

    private static string Weak(DateTimeOffset now)
    {
        using var key = RSA.Create(1024);
        var request = new CertificateRequest("CN=weak.example.com", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        return certificate.ExportCertificatePem();
    }

    private static string EncryptedKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportEncryptedPkcs8PrivateKeyPem("pw", new PbeParameters(PbeEncryptionAlgorithm.Aes128Cbc, HashAlgorithmName.SHA256, 1000));
    }

    private static string PublicKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>A certificate for <paramref name="publicKey"/> (any bytes) signed by a throwaway ECDSA issuer.</summary>
    private static string WithPublicKey(DateTimeOffset now, PublicKey publicKey)
    {
        using var issuerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=odd.example.com"), publicKey, HashAlgorithmName.SHA256);
        using var certificate = request.Create(new X500DistinguishedName("CN=odd issuer"), X509SignatureGenerator.CreateForECDsa(issuerKey),
            now.AddDays(-1), now.AddDays(30), [1, 2, 3, 4]);
        return certificate.ExportCertificatePem();
    }

    /// <summary>A self-signed certificate carrying a raw (possibly malformed) extension.</summary>
    private static string WithExtension(DateTimeOffset now, X509Extension extension)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ext.example.com", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(extension);
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        return certificate.ExportCertificatePem();
    }
}
