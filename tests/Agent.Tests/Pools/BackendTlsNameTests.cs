using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

/// <summary>
/// The name checked against an https backend's certificate comes from configuration (the
/// backend's address, or backendTls.serverName), never from the client's Host header: a client
/// choosing Host values must not be able to fail the check and get backends ejected.
/// </summary>
public sealed class BackendTlsNameTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private InProcessAgent _agent = null!;

    public async Task InitializeAsync() => _agent = await InProcessAgent.StartAsync("edge");

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Fact]
    public async Task RandomHostHeaders_ThroughAnHttpsPoolWithPassiveHealth_LeaveEveryBackendInRotation()
    {
        var (caPem, leaf) = Chain(san => san.AddIpAddress(IPAddress.Loopback));
        using var _ = leaf;
        await using var one = await TestHttpBackend.StartAsync("one", leaf);
        await using var two = await TestHttpBackend.StartAsync("two", leaf);
        var port = Ports.Free();
        var pool = Pool("secure", [Backend("one", one.Port), Backend("two", two.Port)], passive: new PassiveHealthConfig(1, TimeSpan.FromMinutes(5)), protocol: "https")
            with { BackendTls = new BackendTlsConfig(caPem, false) };
        var outcome = (await _agent.ApplyAsync([Http("web", port, Route("secure"))], [pool])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);

        using var client = new HttpClient { Timeout = Wait };
        var answers = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
            request.Headers.Host = $"x{Guid.NewGuid():N}.attacker.test";
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answers.Add(await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(["one", "two"], answers.Distinct().Order());
        var backends = _agent.Pools.Find("secure")!.Backends;
        Assert.All(backends, b => Assert.NotEqual(BackendHealth.Unhealthy, b.Health));
    }

    [Fact]
    public async Task ServerName_IsTheNameVerified_WhateverTheAddressAndTheHostHeader()
    {
        var (caPem, leaf) = Chain(san => san.AddDnsName("backend.internal.test"));
        using var _ = leaf;
        await using var backend = await TestHttpBackend.StartAsync("named", leaf);
        var named = Ports.Free();
        var byAddress = Ports.Free();
        var pools = new[]
        {
            Pool("named", [Backend("b", backend.Port)], protocol: "https") with { BackendTls = new BackendTlsConfig(caPem, false, "backend.internal.test") },
            // Without serverName the name is the address (127.0.0.1), which this certificate does not hold.
            Pool("by-address", [Backend("b", backend.Port)], protocol: "https") with { BackendTls = new BackendTlsConfig(caPem, false) },
        };
        var outcomes = await _agent.ApplyAsync([Http("named", named, Route("named")), Http("by-address", byAddress, Route("by-address"))], pools);
        Assert.All(outcomes, o => Assert.True(o.Programmed, o.Reason));

        using var client = new HttpClient { Timeout = Wait };
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{named}/"))
        {
            request.Headers.Host = "something-else.test";
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("named", await response.Content.ReadAsStringAsync());
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{byAddress}/"))
        {
            // The client naming the certificate's host does not make the check pass either.
            request.Headers.Host = "backend.internal.test";
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }
    }

    /// <summary>A CA (as PEM) and a server certificate it signs, with its key, for the names given.</summary>
    private static (string CaPem, X509Certificate2 Leaf) Chain(Action<SubjectAlternativeNameBuilder> names)
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=backend test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(now, now.AddDays(30));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=backend", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        names(san);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = leafRequest.Create(ca, now, now.AddDays(10), [1, 2, 3, 4]);
        using var withKey = leaf.CopyWithPrivateKey(leafKey);
        // Through PKCS#12: an ephemeral key cannot serve TLS on Linux.
        return (ca.ExportCertificatePem(), X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null));
    }
}
