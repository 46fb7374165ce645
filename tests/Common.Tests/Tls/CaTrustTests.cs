using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Common.Tests.Support;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Common.Tests.Tls;

public class CaTrustTests
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

        Assert.True(CaTrust.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, [ca]));
    }

    [Fact]
    public void Validate_LeafFromAnotherCa_IsRejected()
    {
        using var pinned = CreateCa("pinned");
        using var other = CreateCa("other");
        using var leaf = CreateLeaf(other);

        Assert.False(CaTrust.Validate(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors, [pinned]));
    }

    [Fact]
    public void Validate_NameMismatch_IsRejectedEvenWhenChainIsGood()
    {
        using var ca = CreateCa("pinned");
        using var leaf = CreateLeaf(ca);

        Assert.False(CaTrust.Validate(leaf, null, SslPolicyErrors.RemoteCertificateNameMismatch, [ca]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ParseFingerprint_ColonSeparatedAsPrintedAtStart_OrPlainHex(bool colons)
    {
        using var ca = CreateCa("pinned");
        var hash = ca.GetCertHash(HashAlgorithmName.SHA256);
        var text = colons ? string.Join(":", hash.Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture))) : Convert.ToHexStringLower(hash);

        Assert.Equal(hash, CaTrust.ParseFingerprint(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("AB:CD")]
    [InlineData("zz00000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000000000")]
    public void ParseFingerprint_NotASha256_IsNull(string text) => Assert.Null(CaTrust.ParseFingerprint(text));

    [Fact]
    public async Task FetchCa_ServedCaWithThePinnedHash_IsReturned_WhateverCertificateTheConnectionShows()
    {
        using var ca = CreateCa("pinned");
        using var untrusted = Support.TestCertificates.CreateServerCertificate(Support.TestCertificates.CreateCa("anyone"));
        await using var server = StubServer.HttpsAnswer(untrusted, 200, ca.ExportCertificatePem());

        using var fetched = await CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{server.Port}"), ca.GetCertHash(HashAlgorithmName.SHA256), Timeout);

        Assert.Equal(ca.Thumbprint, fetched.Thumbprint);
    }

    [Fact]
    public async Task FetchCa_ServedCaWithAnotherHash_IsRefused_NamingBothHashes()
    {
        using var ca = CreateCa("pinned");
        using var impostor = CreateCa("pinned");
        using var serving = Support.TestCertificates.CreateServerCertificate(impostor);
        await using var server = StubServer.HttpsAnswer(serving, 200, impostor.ExportCertificatePem());

        var refused = await Assert.ThrowsAsync<CaDiscoveryException>(() => CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{server.Port}"), ca.GetCertHash(HashAlgorithmName.SHA256), Timeout));

        Assert.Contains($"has SHA-256 {CaTrust.Format(impostor.GetCertHash(HashAlgorithmName.SHA256))}, not the pinned {CaTrust.Format(ca.GetCertHash(HashAlgorithmName.SHA256))}", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(404, "not here", "HTTP 404")]
    [InlineData(200, "garbage", "did not serve a PEM certificate")]
    public async Task FetchCa_NoCertificateServed_IsRefusedSayingWhy(int status, string body, string expected)
    {
        using var serving = Support.TestCertificates.CreateServerCertificate(Support.TestCertificates.CreateCa("anyone"));
        await using var server = StubServer.HttpsAnswer(serving, status, body);

        var refused = await Assert.ThrowsAsync<CaDiscoveryException>(() => CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{server.Port}"), new byte[32], Timeout));

        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchCa_OversizeAnswer_IsRefused()
    {
        using var serving = Support.TestCertificates.CreateServerCertificate(Support.TestCertificates.CreateCa("anyone"));
        await using var server = StubServer.HttpsAnswer(serving, 200, new string('A', 200_000));

        var refused = await Assert.ThrowsAsync<CaDiscoveryException>(() => CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{server.Port}"), new byte[32], Timeout));

        Assert.StartsWith("cannot fetch the CA certificate from https://127.0.0.1:", refused.Message, StringComparison.Ordinal);
        Assert.Contains("65536", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FetchCa_ServerThatStallsAfterItsHeaders_IsGivenUpOnAtTheTimeout()
    {
        using var serving = Support.TestCertificates.CreateServerCertificate(Support.TestCertificates.CreateCa("anyone"));
        await using var server = StubServer.HttpsAnswer(serving, 200, new string('A', 1000), stall: true);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var refused = await Assert.ThrowsAsync<CaDiscoveryException>(() => CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{server.Port}"), new byte[32], TimeSpan.FromMilliseconds(500)));

        Assert.StartsWith("cannot fetch the CA certificate from https://127.0.0.1:", refused.Message, StringComparison.Ordinal);
        // Given up at the timeout, well before the server's 5 s stall ends.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task FetchCa_NothingListening_IsRefusedNamingTheUrl()
    {
        var refused = await Assert.ThrowsAsync<CaDiscoveryException>(() => CaTrust.FetchCaAsync(new Uri($"https://127.0.0.1:{ClosedPort()}"), new byte[32], Timeout));

        Assert.StartsWith("cannot fetch the CA certificate from https://127.0.0.1:", refused.Message, StringComparison.Ordinal);
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
