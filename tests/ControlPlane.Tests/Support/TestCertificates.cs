using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>Certificates made in the test with CertificateRequest; nothing is read from disk.</summary>
internal static class TestCertificates
{
    public sealed record Pem(string CertificatePem, string PrivateKeyPem);

    private static readonly Lazy<RSA> SharedRsa = new(() => RSA.Create(2048));

    public static Pem Rsa(string host, DateTimeOffset now, int validDays = 365, RSA? key = null, bool pkcs1 = false)
    {
        key ??= SharedRsa.Value;
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        AddServerExtensions(request, host, isCa: false);
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(validDays));
        return new Pem(certificate.ExportCertificatePem(), pkcs1 ? key.ExportRSAPrivateKeyPem() : key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// An ECDSA P-256 certificate. With <paramref name="ecParameters"/> the key is shaped as
    /// <c>openssl ecparam -genkey -name prime256v1</c> writes it: an EC PARAMETERS block, then the SEC1 key.
    /// </summary>
    public static Pem Ecdsa(string host, DateTimeOffset now, bool sec1 = false, bool ecParameters = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        AddServerExtensions(request, host, isCa: false);
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(365));
        var keyPem = ecParameters ? EcParametersPem(ECCurve.NamedCurves.nistP256) + "\n" + key.ExportECPrivateKeyPem()
            : sec1 ? key.ExportECPrivateKeyPem()
            : key.ExportPkcs8PrivateKeyPem();
        return new Pem(certificate.ExportCertificatePem(), keyPem);
    }

    /// <summary>The EC PARAMETERS block openssl writes for a named curve: the DER of its OID.</summary>
    public static string EcParametersPem(ECCurve curve)
    {
        var der = new AsnWriter(AsnEncodingRules.DER);
        der.WriteObjectIdentifier(curve.Oid.Value!);
        return new string(PemEncoding.Write("EC PARAMETERS", der.Encode()));
    }

    public static Pem RsaWithValidity(string host, DateTimeOffset notBefore, DateTimeOffset notAfter, RSA? key = null, bool isCa = false)
    {
        key ??= SharedRsa.Value;
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        AddServerExtensions(request, host, isCa);
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        return new Pem(certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A leaf signed by a new CA; the PEM is leaf then CA (or the reverse when <paramref name="wrongOrder"/>).</summary>
    public static Pem Chain(string host, DateTimeOffset now, bool wrongOrder = false)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-2), now.AddDays(3650));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest($"CN={host}", leafKey, HashAlgorithmName.SHA256);
        AddServerExtensions(leafRequest, host, isCa: false);
        using var leaf = leafRequest.Create(ca, now.AddDays(-1), now.AddDays(365), [1, 2, 3, 4, 5, 6, 7, 8]);
        var pem = wrongOrder
            ? ca.ExportCertificatePem() + "\n" + leaf.ExportCertificatePem()
            : leaf.ExportCertificatePem() + "\n" + ca.ExportCertificatePem();
        return new Pem(pem, leafKey.ExportPkcs8PrivateKeyPem());
    }

    private static void AddServerExtensions(CertificateRequest request, string host, bool isCa)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        san.AddDnsName("www." + host);
        request.CertificateExtensions.Add(san.Build());
    }
}
