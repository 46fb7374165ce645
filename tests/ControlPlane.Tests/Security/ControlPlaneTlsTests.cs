using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.ControlPlane.Security;

namespace LoadBalancer.ControlPlane.Tests.Security;

public sealed class ControlPlaneTlsTests : IDisposable
{
    private static readonly string[] ExtraNames = ["LB.Example.com ", "10.1.2.3", "fd00::1"];
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "lb-tls-" + Guid.NewGuid().ToString("N"));
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    private string TlsDir => Path.Combine(_dataDir, ControlPlaneTls.FolderName);

    public void Dispose()
    {
        if (Directory.Exists(_dataDir))
        {
            Directory.Delete(_dataDir, recursive: true);
        }
    }

    [Fact]
    public void LoadOrCreate_FirstStart_WritesCaAndServerFilesToDataTls_KeysOwnerOnly()
    {
        var tls = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);

        Assert.True(tls.Issued);
        Assert.Equal(Path.Combine(TlsDir, "ca.crt"), tls.CaPath);
        foreach (var file in new[] { "ca.crt", "ca.key", "server.crt", "server.key" })
        {
            Assert.True(File.Exists(Path.Combine(TlsDir, file)), $"{file} is missing");
        }
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(TlsDir, "ca.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(TlsDir, "server.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(TlsDir));
        }
        // What is on disk is what is served: the files load back into the same certificates and keys.
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(TlsDir, "ca.crt"), Path.Combine(TlsDir, "ca.key"));
        using var server = X509Certificate2.CreateFromPemFile(Path.Combine(TlsDir, "server.crt"), Path.Combine(TlsDir, "server.key"));
        Assert.Equal(tls.CaCertificate.Thumbprint, ca.Thumbprint);
        Assert.Equal(tls.ServerCertificate.Thumbprint, server.Thumbprint);
        Assert.True(ca.HasPrivateKey && server.HasPrivateKey);
        Assert.True(tls.ServerCertificate.HasPrivateKey, "Kestrel needs the serving key");
    }

    [Fact]
    public void ServerCertificate_ChainsToTheCa_AndNamesLoopbackAndEveryExtraName()
    {
        var tls = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);

        AssertChainsToCa(tls, _now);
        var san = tls.ServerCertificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["lb.example.com", "localhost"], san.EnumerateDnsNames().Order(StringComparer.Ordinal));
        Assert.Equal(["10.1.2.3", "127.0.0.1", "::1", "fd00::1"], san.EnumerateIPAddresses().Select(a => a.ToString()).Order(StringComparer.Ordinal));
        foreach (var name in new[] { "localhost", "127.0.0.1", "::1", "lb.example.com", "10.1.2.3", "fd00::1" })
        {
            Assert.True(tls.ServerCertificate.MatchesHostname(name), $"the serving certificate does not match {name}");
        }
        Assert.False(tls.ServerCertificate.MatchesHostname("other.example.com"));
        // A server certificate, not a CA: clients must not accept it as an issuer.
        Assert.False(tls.ServerCertificate.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Contains(tls.ServerCertificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.1");
        Assert.True(tls.CaCertificate.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(tls.CaFingerprint.Replace(":", "", StringComparison.Ordinal), Convert.ToHexString(tls.CaCertificate.GetCertHash(HashAlgorithmName.SHA256)));
    }

    [Fact]
    public void SecondStart_ReusesCaAndServerCertificate()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var filesBefore = ReadTlsFiles();

        var second = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now.AddHours(1));

        Assert.False(second.Issued);
        Assert.Equal(first.CaCertificate.Thumbprint, second.CaCertificate.Thumbprint);
        Assert.Equal(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
        Assert.Equal(filesBefore, ReadTlsFiles());
    }

    [Fact]
    public void SecondStart_WithTheExtraNamesInAnotherOrderAndCase_Reuses()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);

        var second = ControlPlaneTls.LoadOrCreate(_dataDir, ["FD00::1", "lb.example.COM", "10.1.2.3"], _now);

        Assert.False(second.Issued);
        Assert.Equal(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void SecondStart_WithANonCanonicalIpv6ExtraName_Reuses()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ["fd00:0:0::1"], _now);
        Assert.True(first.ServerCertificate.MatchesHostname("fd00::1"));

        var second = ControlPlaneTls.LoadOrCreate(_dataDir, ["fd00:0:0::1"], _now);

        Assert.False(second.Issued);
        Assert.Equal(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void NewExtraName_ReissuesTheServerCertificate_KeepsTheCa()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var caFiles = ReadTlsFiles().Where(f => f.Key.StartsWith("ca.", StringComparison.Ordinal)).ToList();

        var second = ControlPlaneTls.LoadOrCreate(_dataDir, [.. ExtraNames, "new.example.com", "192.0.2.7"], _now);

        Assert.True(second.Issued);
        Assert.Equal(first.CaCertificate.Thumbprint, second.CaCertificate.Thumbprint);
        Assert.NotEqual(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
        Assert.Equal(caFiles, ReadTlsFiles().Where(f => f.Key.StartsWith("ca.", StringComparison.Ordinal)).ToList());
        foreach (var name in new[] { "new.example.com", "192.0.2.7", "lb.example.com", "localhost", "::1" })
        {
            Assert.True(second.ServerCertificate.MatchesHostname(name), $"the re-issued certificate does not match {name}");
        }
        AssertChainsToCa(second, _now);
        // The new certificate was saved: the next start with the same names reuses it.
        var third = ControlPlaneTls.LoadOrCreate(_dataDir, [.. ExtraNames, "new.example.com", "192.0.2.7"], _now);
        Assert.False(third.Issued);
        Assert.Equal(second.ServerCertificate.Thumbprint, third.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void FewerExtraNames_KeepTheServerCertificate()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);

        var second = ControlPlaneTls.LoadOrCreate(_dataDir, [], _now);

        Assert.False(second.Issued);
        Assert.Equal(first.ServerCertificate.Thumbprint, second.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void WithinThirtyDaysOfExpiry_ReissuesTheServerCertificate_KeepsTheCa()
    {
        var first = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var stillFine = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now.AddDays(360));
        Assert.False(stillFine.Issued);

        var later = _now.AddDays(380);
        var renewed = ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, later);

        Assert.True(renewed.Issued);
        Assert.Equal(first.CaCertificate.Thumbprint, renewed.CaCertificate.Thumbprint);
        Assert.NotEqual(first.ServerCertificate.Thumbprint, renewed.ServerCertificate.Thumbprint);
        Assert.True(renewed.ServerCertificate.NotAfter.ToUniversalTime() > later.UtcDateTime.AddDays(300));
        Assert.True(renewed.ServerCertificate.NotBefore.ToUniversalTime() <= later.UtcDateTime);
        AssertChainsToCa(renewed, later);
    }

    public static TheoryData<string, string> Damages() => new()
    {
        { "ca.crt", "garbage" },
        { "ca.crt", "empty" },
        { "ca.crt", "truncated" },
        { "ca.crt", "first byte changed" },
        { "ca.key", "garbage" },
        { "ca.key", "empty" },
        { "ca.key", "an RSA key" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void DamagedCaFile_IsAnInvalidOperationException_NamingTheFolder(string file, string damage)
    {
        ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var path = Path.Combine(TlsDir, file);
        var pem = File.ReadAllText(path);
        using var rsa = RSA.Create(2048);
        var damaged = damage switch
        {
            "garbage" => "this is not PEM\n",
            "empty" => "",
            "truncated" => pem[..(pem.Length / 2)],
            "first byte changed" => pem.Replace("-----\nM", "-----\nA", StringComparison.Ordinal),
            _ => rsa.ExportPkcs8PrivateKeyPem(),
        };
        Assert.NotEqual(pem, damaged);
        File.WriteAllText(path, damaged);

        AssertRefusedNamingTheFolder(path, damaged);
    }

    [Fact]
    public void CaCertificateOfAnotherKey_IsAnInvalidOperationException_NamingTheFolder()
    {
        ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var path = Path.Combine(TlsDir, "ca.crt");
        var other = Support.TestCertificates.Ecdsa("other.example.com", _now).CertificatePem;
        File.WriteAllText(path, other);

        AssertRefusedNamingTheFolder(path, other);
    }

    [Fact]
    public void CaKeyOfAnotherCertificate_IsAnInvalidOperationException_NamingTheFolder()
    {
        ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now);
        var path = Path.Combine(TlsDir, "ca.key");
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = other.ExportPkcs8PrivateKeyPem();
        File.WriteAllText(path, pem);

        AssertRefusedNamingTheFolder(path, pem);
    }

    private void AssertRefusedNamingTheFolder(string path, string content)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ControlPlaneTls.LoadOrCreate(_dataDir, ExtraNames, _now));

        Assert.Contains(TlsDir, ex.Message, StringComparison.Ordinal);
        Assert.Contains("CA", ex.Message, StringComparison.Ordinal);
        // Nothing was replaced: pins to the old CA must not silently break.
        Assert.Equal(content, File.ReadAllText(path));
    }

    private static void AssertChainsToCa(ControlPlaneTls tls, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(tls.CaCertificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        var built = chain.Build(tls.ServerCertificate);
        Assert.True(built, "no chain to the CA: " + string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status} {s.StatusInformation}")));
        Assert.Equal(tls.CaCertificate.Thumbprint, chain.ChainElements[^1].Certificate.Thumbprint);
        Assert.Equal(2, chain.ChainElements.Count);
    }

    private SortedDictionary<string, string> ReadTlsFiles() =>
        new(Directory.GetFiles(TlsDir).ToDictionary(f => Path.GetFileName(f), f => File.ReadAllText(f)), StringComparer.Ordinal);
}
