using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Cli.Connection;

namespace LoadBalancer.Cli.Tests.Connection;

public class CaPinningTests
{
    private static X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 CreateLeaf(X509Certificate2 ca)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        return request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), [1, 2, 3, 4]);
    }

    [Fact]
    public void Validate_LeafSignedByPinnedCa_IsAccepted()
    {
        using var ca = CreateCa("pinned");
        using var leaf = CreateLeaf(ca);

        Assert.True(CaPinning.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, [ca]));
    }

    [Fact]
    public void Validate_LeafFromAnotherCa_IsRejected()
    {
        using var pinned = CreateCa("pinned");
        using var other = CreateCa("other");
        using var leaf = CreateLeaf(other);

        Assert.False(CaPinning.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, [pinned]));
    }

    [Fact]
    public void Validate_NameMismatch_IsRejectedEvenWhenChainIsGood()
    {
        using var ca = CreateCa("pinned");
        using var leaf = CreateLeaf(ca);

        Assert.False(CaPinning.Validate(leaf, null, SslPolicyErrors.RemoteCertificateNameMismatch, [ca]));
    }

    [Fact]
    public void LoadRoots_ReadsPemFile()
    {
        using var ca = CreateCa("pinned");
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, ca.ExportCertificatePem());

            var roots = CaPinning.LoadRoots(path);

            Assert.Equal(ca.Thumbprint, Assert.Single(roots).Thumbprint);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
