using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>
/// Whether one certificate's signature was made with another's key. The platform has no such
/// check short of building a trusted chain, and a chain given by an operator need not end at a
/// root anyone trusts here; matching names alone would accept an issuer that was re-keyed.
/// </summary>
public static class CertificateSignatures
{
    private const string Sha1 = "1.3.14.3.2.26";
    private const string Sha256 = "2.16.840.1.101.3.4.2.1";
    private const string Sha384 = "2.16.840.1.101.3.4.2.2";
    private const string Sha512 = "2.16.840.1.101.3.4.2.3";
    private const string RsaPss = "1.2.840.113549.1.1.10";

    /// <summary>
    /// True when <paramref name="issuer"/>'s key verifies <paramref name="certificate"/>'s
    /// signature, false when it does not, null when the signature algorithm is one this check
    /// does not know (then only the names can be compared).
    /// </summary>
    public static bool? IsSignedBy(X509Certificate2 certificate, X509Certificate2 issuer)
    {
        byte[] signed;
        string algorithm;
        ReadOnlyMemory<byte>? parameters;
        byte[] signature;
        try
        {
            // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
            var outer = new AsnReader(certificate.RawData, AsnEncodingRules.DER).ReadSequence();
            signed = outer.ReadEncodedValue().ToArray();
            var algorithmIdentifier = outer.ReadSequence();
            algorithm = algorithmIdentifier.ReadObjectIdentifier();
            parameters = algorithmIdentifier.HasData ? algorithmIdentifier.ReadEncodedValue() : null;
            signature = outer.ReadBitString(out _);
        }
        catch (AsnContentException)
        {
            return false;
        }

        try
        {
            switch (algorithm)
            {
                case "1.2.840.113549.1.1.5":
                    return VerifyRsa(issuer, signed, signature, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);
                case "1.2.840.113549.1.1.11":
                    return VerifyRsa(issuer, signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                case "1.2.840.113549.1.1.12":
                    return VerifyRsa(issuer, signed, signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1);
                case "1.2.840.113549.1.1.13":
                    return VerifyRsa(issuer, signed, signature, HashAlgorithmName.SHA512, RSASignaturePadding.Pkcs1);
                case RsaPss:
                    return PssHash(parameters) is { } pssHash ? VerifyRsa(issuer, signed, signature, pssHash, RSASignaturePadding.Pss) : null;
                case "1.2.840.10045.4.1":
                    return VerifyEcdsa(issuer, signed, signature, HashAlgorithmName.SHA1);
                case "1.2.840.10045.4.3.2":
                    return VerifyEcdsa(issuer, signed, signature, HashAlgorithmName.SHA256);
                case "1.2.840.10045.4.3.3":
                    return VerifyEcdsa(issuer, signed, signature, HashAlgorithmName.SHA384);
                case "1.2.840.10045.4.3.4":
                    return VerifyEcdsa(issuer, signed, signature, HashAlgorithmName.SHA512);
                default:
                    return null;
            }
        }
        catch (CryptographicException)
        {
            // The issuer's key cannot be read as the kind the signature needs.
            return false;
        }
    }

    private static bool VerifyRsa(X509Certificate2 issuer, byte[] signed, byte[] signature, HashAlgorithmName hash, RSASignaturePadding padding)
    {
        using var key = issuer.GetRSAPublicKey();
        return key is not null && key.VerifyData(signed, signature, hash, padding);
    }

    private static bool VerifyEcdsa(X509Certificate2 issuer, byte[] signed, byte[] signature, HashAlgorithmName hash)
    {
        using var key = issuer.GetECDsaPublicKey();
        return key is not null && key.VerifyData(signed, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>
    /// The hash of RSASSA-PSS parameters when the salt is as long as that hash (what the
    /// platform verifies, and what issuers use); null for any other combination.
    /// </summary>
    private static HashAlgorithmName? PssHash(ReadOnlyMemory<byte>? parameters)
    {
        if (parameters is null)
        {
            return null;
        }
        try
        {
            // RSASSA-PSS-params ::= SEQUENCE { [0] hashAlgorithm DEFAULT sha1, [1] maskGen, [2] saltLength DEFAULT 20, [3] trailer }
            var sequence = new AsnReader(parameters.Value, AsnEncodingRules.DER).ReadSequence();
            var hashOid = Sha1;
            var saltLength = 20;
            while (sequence.HasData)
            {
                var tag = sequence.PeekTag();
                var field = sequence.ReadSequence(tag);
                switch (tag.TagValue)
                {
                    case 0:
                        hashOid = field.ReadSequence().ReadObjectIdentifier();
                        break;
                    case 2:
                        saltLength = field.TryReadInt32(out var salt) ? salt : -1;
                        break;
                }
            }
            (HashAlgorithmName Name, int Length)? hash = hashOid switch
            {
                Sha1 => (HashAlgorithmName.SHA1, 20),
                Sha256 => (HashAlgorithmName.SHA256, 32),
                Sha384 => (HashAlgorithmName.SHA384, 48),
                Sha512 => (HashAlgorithmName.SHA512, 64),
                _ => null,
            };
            return hash is { } known && known.Length == saltLength ? known.Name : null;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }
}
