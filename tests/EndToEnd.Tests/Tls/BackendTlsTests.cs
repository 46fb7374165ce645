using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Tls;

/// <summary>Issue 6, to backends: https pools verify the backend against their CA bundle, or only on request do not.</summary>
public sealed class BackendTlsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task HttpsPool_VerifiesAgainstItsCa_RefusesAnUntrustedBackend_AndSkipsOnlyWhenAsked()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var (caPem, certPem, keyPem) = CreateChain();
            var cert = Path.Combine(cluster.Root, "backend.crt");
            var key = Path.Combine(cluster.Root, "backend.key");
            await File.WriteAllTextAsync(cert, certPem);
            await File.WriteAllTextAsync(key, keyPem);
            var backendPort = Ports.Free();
            var backend = cluster.Track(ManagedProcess.Start("tls backend", Binaries.SampleBackend,
                ["--name", "tls-be", "--port", backendPort.ToString(CultureInfo.InvariantCulture), "--tls-cert", cert, "--tls-key", key]));
            await cluster.StartAgentAsync("internal", "int-1");

            var ports = new Dictionary<string, int> { ["verified"] = Ports.Free(), ["untrusted"] = Ports.Free(), ["insecure"] = Ports.Free() };
            var indentedCa = string.Join("\n", caPem.Trim().Split('\n').Select(l => "      " + l));
            var docs = new List<string>
            {
                Yaml.Pool("verified", protocol: "https", extra: "  backendTls:\n    caPem: |\n" + indentedCa),
                Yaml.Pool("untrusted", protocol: "https", extra: "  retries: 0"),
                Yaml.Pool("insecure", protocol: "https", extra: "  backendTls: {insecureSkipVerify: true}"),
            };
            foreach (var (pool, port) in ports)
            {
                docs.Add(Yaml.Backend(pool + "-be", pool, backendPort));
                docs.Add(Yaml.HttpListener(pool, "internal", port, pool));
            }
            var apply = await cluster.ApplyAsync(Yaml.Join([.. docs]));
            Assert.True(apply.ExitCode == 0, apply.ToString());

            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{ports["verified"]}/") == "tls-be", TimeSpan.FromSeconds(15), "the verified pool to reach the https backend", cluster.Diagnostics);
            Assert.Equal("tls-be", await cluster.WhoAnswersAsync($"http://127.0.0.1:{ports["insecure"]}/"));
            using (var refused = await cluster.Http.GetAsync($"http://127.0.0.1:{ports["untrusted"]}/"))
            {
                output.WriteLine($"untrusted backend: {(int)refused.StatusCode}");
                Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            }

            var insecure = await cluster.Management.GetPoolAsync(new GetRequest { Name = "insecure" });
            Assert.Contains(insecure.Status.Conditions, c => c.Type == "BackendTlsVerified" && c.Status == "False");
            Assert.False(backend.HasExited);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>A CA and a leaf for 127.0.0.1 that it signs.</summary>
    private static (string Ca, string Certificate, string Key) CreateChain()
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=backend test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(now, now.AddDays(30));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=127.0.0.1", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = leafRequest.Create(ca, now, now.AddDays(10), [1, 2, 3, 4]);
        return (ca.ExportCertificatePem() + "\n", leaf.ExportCertificatePem() + "\n", leafKey.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
