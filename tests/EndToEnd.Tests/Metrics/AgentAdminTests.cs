using System.Net;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.Tls;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Metrics;

/// <summary>
/// The agent's admin endpoints as a probe and an operator request them: /readyz (the Kubernetes
/// readiness probe) and /config (which must never carry key material).
/// </summary>
public sealed class AgentAdminTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Readyz_Is503UntilTheFirstSnapshot_Then200_AndConfigNeverShowsKeyMaterial()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("web-1");
            var port = Ports.Free();
            var certificate = TestCertificate.Create("shop.example.test");
            var files = await certificate.WriteAsync(cluster.Root, "shop");
            var apply = await cluster.ApplyAsync(Yaml.Join(
                $$"""
                apiVersion: lb/v1
                kind: Certificate
                metadata: {name: shop-tls}
                spec:
                  certificateFile: {{files.Cert}}
                  privateKeyFile: {{files.Key}}
                ---

                """,
                Yaml.Pool("shop", extra: "  sessionPersistence: {type: cookie, cookieName: lb-session, ttl: 1h}"),
                Yaml.Backend("web-1", "shop", backend.Port),
                $$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: shop}
                spec:
                  tier: edge
                  port: {{port}}
                  protocol: https
                  certificates: [shop-tls]
                  routes:
                    - {pathPrefix: /, pool: shop}
                ---

                """));
            Assert.True(apply.ExitCode == 0, apply.ToString());

            // The control plane is down when the agent starts, and the agent has no cache: it is
            // alive (healthz) but has nothing to serve, so it must not be sent traffic.
            var connection = await cluster.AgentConnectionArgsAsync("edge");
            cluster.ControlPlane.Kill();
            var agent = await cluster.StartAgentProcessAsync(connection, "edge", "edge-1", "127.0.0.1", []);
            using (var notReady = await cluster.Http.GetAsync(agent.AdminUrl + "/readyz"))
            {
                output.WriteLine($"/readyz without a snapshot: {(int)notReady.StatusCode} {await notReady.Content.ReadAsStringAsync()}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
            }

            // Once the control plane is back the first snapshot arrives: ready.
            await cluster.StartControlPlaneAsync();
            await Wait.UntilAsync(async () => (await cluster.Http.GetAsync(agent.AdminUrl + "/readyz")).StatusCode == HttpStatusCode.OK, Propagation, "/readyz to answer 200 after the first snapshot", cluster.Diagnostics);
            var cacheDirectory = Path.Combine(cluster.Root, "cache-edge-1");
            await Wait.UntilAsync(() => File.Exists(AgentCache.SealedFile(cacheDirectory)), Propagation, "the agent to cache its snapshot");
            var cached = AgentCache.Read(cacheDirectory);
            Assert.Contains($"revision {cached.Revision}", await cluster.Http.GetStringAsync(agent.AdminUrl + "/readyz"), StringComparison.Ordinal);

            // /config shows the snapshot in force: the certificate by name and fingerprint...
            var config = await cluster.Http.GetStringAsync(agent.AdminUrl + "/config");
            Assert.Contains("\"shop-tls\"", config, StringComparison.Ordinal);
            Assert.Contains(certificate.Fingerprint, config, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("\"shop\"", config, StringComparison.Ordinal);

            // ...and none of the secrets the agent holds, read from its own cache of that snapshot:
            // the private key in any form, the cookie key raw, in base64 or in hex.
            var data = SnapshotData.Parser.ParseFrom(cached.Payload);
            var key = data.Certificates.Single(c => c.Name == "shop-tls").PrivateKeyPem;
            Assert.Contains(certificate.KeyMarker, key, StringComparison.Ordinal);
            var cookieKey = data.Pools.Single(p => p.Name == "shop").SessionPersistence.HmacKey.ToByteArray();
            Assert.NotEmpty(cookieKey);
            Assert.DoesNotContain("PRIVATE KEY", config, StringComparison.Ordinal);
            Assert.DoesNotContain(certificate.KeyMarker, config, StringComparison.Ordinal);
            Assert.DoesNotContain(certificate.KeyMarker.Replace("/", "\\/", StringComparison.Ordinal), config, StringComparison.Ordinal);
            foreach (var form in new[] { Convert.ToBase64String(cookieKey), Convert.ToHexString(cookieKey), System.Text.Encoding.Latin1.GetString(cookieKey) })
            {
                Assert.DoesNotContain(form, config, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(form.Replace("/", "\\/", StringComparison.Ordinal).Replace("+", "\\u002B", StringComparison.Ordinal), config, StringComparison.OrdinalIgnoreCase);
            }

            // The cache file itself holds the snapshot sealed: no private key as PEM, DER or
            // base64, and no cookie key raw, in base64 or in hex. Its key is outside the folder.
            var cacheBytes = await File.ReadAllBytesAsync(AgentCache.SealedFile(cacheDirectory));
            var cacheText = System.Text.Encoding.Latin1.GetString(cacheBytes);
            using var privateKey = System.Security.Cryptography.RSA.Create();
            privateKey.ImportFromPem(key);
            var der = Convert.FromBase64String(string.Concat(key.Split('\n').Select(l => l.Trim()).Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
            Assert.DoesNotContain("PRIVATE KEY", cacheText, StringComparison.Ordinal);
            Assert.DoesNotContain(certificate.KeyMarker, cacheText, StringComparison.Ordinal);
            foreach (var secret in new[] { der, privateKey.ExportRSAPrivateKey(), cookieKey })
            {
                Assert.Equal(-1, cacheBytes.AsSpan().IndexOf(secret));
                Assert.DoesNotContain(Convert.ToBase64String(secret)[..24], cacheText, StringComparison.Ordinal);
                Assert.DoesNotContain(Convert.ToHexString(secret)[..24], cacheText, StringComparison.OrdinalIgnoreCase);
            }
            Assert.Equal([AgentCache.SealedFile(cacheDirectory)], Directory.GetFiles(cacheDirectory));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(AgentCache.KeyFile(cacheDirectory)));
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
