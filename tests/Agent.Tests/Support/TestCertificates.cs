using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>The private key encodings operators bring (openssl's defaults and their -traditional forms).</summary>
public enum TestKeyFormat
{
    RsaPkcs8,
    RsaPkcs1,
    EcPkcs8,
    EcSec1,

    /// <summary>As <c>openssl ecparam -genkey -name prime256v1</c> writes it: EC PARAMETERS, then the SEC1 key.</summary>
    EcSec1WithParameters,
}

/// <summary>Self-signed certificates made in the test, as the snapshot carries them (PEM + fingerprint).</summary>
internal static class TestCertificates
{
    public static CertificateConfig Rsa(string name, params string[] dnsNames) => Create(name, ecdsa: false, dnsNames);

    public static CertificateConfig Ecdsa(string name, params string[] dnsNames) => Create(name, ecdsa: true, dnsNames);

    /// <summary>A certificate with only a subject CN and no SAN extension.</summary>
    public static CertificateConfig CommonNameOnly(string name, string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return ToConfig(name, certificate, key.ExportPkcs8PrivateKeyPem());
    }

    public static CertificateConfig WithKey(string name, string dnsName, TestKeyFormat format)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        using AsymmetricAlgorithm key = format is TestKeyFormat.RsaPkcs8 or TestKeyFormat.RsaPkcs1 ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA rsa
            ? new CertificateRequest($"CN={dnsName}", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={dnsName}", (ECDsa)key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var keyPem = format switch
        {
            TestKeyFormat.RsaPkcs1 => ((RSA)key).ExportRSAPrivateKeyPem(),
            TestKeyFormat.EcSec1 => ((ECDsa)key).ExportECPrivateKeyPem(),
            TestKeyFormat.EcSec1WithParameters => EcParametersPem() + "\n" + ((ECDsa)key).ExportECPrivateKeyPem(),
            _ => key.ExportPkcs8PrivateKeyPem(),
        };
        return ToConfig(name, certificate, keyPem);
    }

    /// <summary>The EC PARAMETERS block openssl writes for prime256v1: the DER of the curve's OID.</summary>
    private static string EcParametersPem()
    {
        var der = new AsnWriter(AsnEncodingRules.DER);
        der.WriteObjectIdentifier(ECCurve.NamedCurves.nistP256.Oid.Value!);
        return new string(PemEncoding.Write("EC PARAMETERS", der.Encode()));
    }

    private static CertificateConfig Create(string name, bool ecdsa, string[] dnsNames)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dnsName in dnsNames)
        {
            san.AddDnsName(dnsName);
        }
        var subject = $"CN={dnsNames.FirstOrDefault() ?? name}";
        if (ecdsa)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            return ToConfig(name, certificate, key.ExportPkcs8PrivateKeyPem());
        }
        else
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            return ToConfig(name, certificate, key.ExportPkcs8PrivateKeyPem());
        }
    }

    private static CertificateConfig ToConfig(string name, X509Certificate2 certificate, string keyPem) =>
        new(name, certificate.ExportCertificatePem(), keyPem, certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant());
}
