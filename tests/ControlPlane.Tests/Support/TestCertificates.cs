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

    /// <summary>
    /// A leaf signed by a new CA; the PEM is leaf then CA (or the reverse when <paramref name="wrongOrder"/>).
    /// <paramref name="impostorCa"/> puts in another CA of the same name and its own key instead
    /// of the one that signed; <paramref name="caSignature"/> picks the CA's key and how it signs.
    /// </summary>
    public static Pem Chain(string host, DateTimeOffset now, bool wrongOrder = false, bool impostorCa = false, CaSignature caSignature = CaSignature.EcdsaSha256)
    {
        using var ca = CreateCa(now, caSignature);
        using var impostor = impostorCa ? CreateCa(now, caSignature) : null;

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest($"CN={host}", leafKey, HashAlgorithmName.SHA256);
        AddServerExtensions(leafRequest, host, isCa: false);
        using var leaf = caSignature == CaSignature.EcdsaSha256
            ? leafRequest.Create(ca, now.AddDays(-1), now.AddDays(365), [1, 2, 3, 4, 5, 6, 7, 8])
            : leafRequest.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(ca.GetRSAPrivateKey()!, caSignature == CaSignature.RsaPss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1), now.AddDays(-1), now.AddDays(365), [1, 2, 3, 4, 5, 6, 7, 8]);
        var given = impostor ?? ca;
        var pem = wrongOrder
            ? given.ExportCertificatePem() + "\n" + leaf.ExportCertificatePem()
            : leaf.ExportCertificatePem() + "\n" + given.ExportCertificatePem();
        return new Pem(pem, leafKey.ExportPkcs8PrivateKeyPem());
    }

    public enum CaSignature
    {
        EcdsaSha256,
        RsaPkcs1,
        RsaPss,
    }

    private static X509Certificate2 CreateCa(DateTimeOffset now, CaSignature signature)
    {
        CertificateRequest request;
        if (signature == CaSignature.EcdsaSha256)
        {
            using var ecKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            request = new CertificateRequest("CN=Test CA", ecKey, HashAlgorithmName.SHA256);
            return SelfSigned(request, now);
        }
        using var rsaKey = RSA.Create(2048);
        request = new CertificateRequest("CN=Test CA", rsaKey, HashAlgorithmName.SHA384, signature == CaSignature.RsaPss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        return SelfSigned(request, now);
    }

    private static X509Certificate2 SelfSigned(CertificateRequest request, DateTimeOffset now)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(now.AddDays(-2), now.AddDays(3650));
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
