using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Tests.Support;

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
