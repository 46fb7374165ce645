using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tests.Support;
using LoadBalancer.Agent.Tls;

namespace LoadBalancer.Agent.Tests.Tls;

public sealed class CertificateLoaderTests
{
    private static readonly CertificateConfig RsaCertificate = TestCertificates.Rsa("rsa", "Shop.Example.com", "*.example.com");
    private static readonly CertificateConfig EcdsaCertificate = TestCertificates.Ecdsa("ecdsa", "api.example.net");

    [Fact]
    public void Load_Rsa_HasPrivateKeyAndLowercaseSanNames()
    {
        var loaded = new CertificateLoader().Load(RsaCertificate);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(["shop.example.com", "*.example.com"], loaded.DnsNames);
        Assert.Equal(("rsa", RsaCertificate.Fingerprint), (loaded.Name, loaded.Fingerprint));
        Assert.NotNull(loaded.Options.ServerCertificateContext);
    }

    [Fact]
    public void Load_Ecdsa_HasPrivateKeyAndSanNames()
    {
        var loaded = new CertificateLoader().Load(EcdsaCertificate);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(["api.example.net"], loaded.DnsNames);
    }

    // The control plane accepts each of these encodings, so the agent must load each of them.
    [Theory]
    [InlineData(TestKeyFormat.RsaPkcs8)]
    [InlineData(TestKeyFormat.RsaPkcs1)]
    [InlineData(TestKeyFormat.EcPkcs8)]
    [InlineData(TestKeyFormat.EcSec1)]
    [InlineData(TestKeyFormat.EcSec1WithParameters)]
    public async Task Load_EveryAcceptedKeyEncoding_ServesAHandshake(TestKeyFormat format)
    {
        var config = TestCertificates.WithKey("site", "site.example.com", format);

        var loaded = new CertificateLoader().Load(config);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(config.Fingerprint, await HandshakeFingerprintAsync(new SniCertificateMap([loaded]), "site.example.com"));
    }

    [Fact]
    public void Load_CertificateWithoutSan_AnswersForItsCommonName()
    {
        var loaded = new CertificateLoader().Load(TestCertificates.CommonNameOnly("cn", "Legacy.Example.org"));

        Assert.Equal(["legacy.example.org"], loaded.DnsNames);
    }

    [Fact]
    public void Load_SameNameAndFingerprintTwice_ReturnsSameInstance()
    {
        var loader = new CertificateLoader();

        var first = loader.Load(RsaCertificate);
        var second = loader.Load(RsaCertificate with { });

        Assert.Same(first, second);
    }

    [Fact]
    public void Load_NewFingerprint_ReturnsNewInstance()
    {
        var loader = new CertificateLoader();
        var rotated = TestCertificates.Ecdsa("rsa", "shop.example.com");

        var first = loader.Load(RsaCertificate);
        var second = loader.Load(rotated);

        Assert.NotSame(first, second);
        Assert.Equal(rotated.Fingerprint, second.Fingerprint);
        Assert.Equal(["shop.example.com"], second.DnsNames);
    }

    [Fact]
    public void Retain_ForgetsVersionsNoLongerInTheSnapshot()
    {
        var loader = new CertificateLoader();
        var kept = loader.Load(EcdsaCertificate);
        var dropped = loader.Load(RsaCertificate);

        loader.Retain([EcdsaCertificate]);

        Assert.Same(kept, loader.Load(EcdsaCertificate));
        Assert.NotSame(dropped, loader.Load(RsaCertificate));
    }

    public static TheoryData<string, string, string> BadPems()
    {
        var other = TestCertificates.Ecdsa("other", "other.test");
        return new TheoryData<string, string, string>
        {
            { "not pem at all", "not pem at all", "no certificate" },
            { "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n", EcdsaCertificate.PrivateKeyPem, "garbage certificate" },
            { EcdsaCertificate.CertificatePem, "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n", "garbage key" },
            { EcdsaCertificate.CertificatePem, "", "no key" },
            { EcdsaCertificate.CertificatePem, other.PrivateKeyPem, "key of another certificate" },
        };
    }

    // ListenerManager turns exactly these exception types into a failed listener (the others keep serving).
    [Theory]
    [MemberData(nameof(BadPems))]
    public void Load_GarbagePem_ThrowsAnExceptionTheListenerManagerHandles(string certificatePem, string keyPem, string what)
    {
        var config = new CertificateConfig("bad", certificatePem, keyPem, "f-" + what);

        var ex = Record.Exception(() => new CertificateLoader().Load(config));

        Assert.NotNull(ex);
        Assert.True(
            ex is CryptographicException or InvalidOperationException or ArgumentException or KeyNotFoundException,
            $"{what}: {ex.GetType()} would escape ListenerManager: {ex.Message}");
    }

    [Fact]
    public async Task Options_CompleteARealHandshake_ServingTheCertificateChosenBySni()
    {
        var loader = new CertificateLoader();
        var map = new SniCertificateMap([loader.Load(EcdsaCertificate), loader.Load(RsaCertificate)]);
        Assert.Equal(RsaCertificate.Fingerprint, await HandshakeFingerprintAsync(map, "www.example.com"));
    }

    /// <summary>One real TLS handshake (server options from the map); the fingerprint the client saw.</summary>
    private static async Task<string> HandshakeFingerprintAsync(SniCertificateMap map, string host)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            await using var tls = new SslStream(socket.GetStream());
            await tls.AuthenticateAsServerAsync((_, hello, _, _) => ValueTask.FromResult(map.SelectOptions(hello.ServerName, offersTls13: false)), null);
            await tls.WriteAsync(new byte[] { 1 });
        });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var clientTls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        await clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host });
        var buffer = new byte[1];
        await clientTls.ReadExactlyAsync(buffer);
        await server.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.NotNull(clientTls.RemoteCertificate);
        return clientTls.RemoteCertificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
    }
}
