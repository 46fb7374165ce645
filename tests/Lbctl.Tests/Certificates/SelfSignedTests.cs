using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Cli.Certificates;

namespace LoadBalancer.Cli.Tests.Certificates;

public sealed class SelfSignedTests
{
    [Fact]
    public void Create_LeafChainsToItsCa_NamesEveryHost_AndMatchesItsKey()
    {
        var (caPem, certificatePem, keyPem) = SelfSigned.Create(["shop.example.test", "*.shop.example.test"], TimeSpan.FromDays(30));

        using var ca = X509Certificate2.CreateFromPem(caPem);
        using var leaf = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        Assert.True(leaf.HasPrivateKey);
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames().ToList();
        Assert.Equal(["shop.example.test", "*.shop.example.test"], names);
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.InRange((leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow).TotalDays, 29, 30.1);
    }

    [Fact]
    public void Create_NoHost_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => SelfSigned.Create([], TimeSpan.FromDays(1)));
    }
}
