using System.Security.Cryptography.X509Certificates;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Tls;

/// <summary>
/// The certificates users actually make. Every other TLS test builds its certificates in code
/// with CA:FALSE; `openssl req -x509` (OpenSSL 3) marks them CA:TRUE and gives 30 days by default.
/// </summary>
public sealed class OpensslCertificateTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task OpensslReqX509Certificate_IsServedWithWarnings_AndACaBeforeItsLeafIsRefused()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("shop-1");
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var folder = Path.Combine(cluster.Root, "openssl");
            Directory.CreateDirectory(folder);

            // The command of the issue, as typed: no -days (OpenSSL's default is 30 days).
            await OpensslAsync(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=shop.test", "-addext", "subjectAltName=DNS:shop.test");
            using (var made = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(folder, "c.pem"))))
            {
                Assert.True(made.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority, "the OpenSSL here no longer makes CA:TRUE certificates by default");
            }

            var manifest = Path.Combine(folder, "shop.yaml");
            await File.WriteAllTextAsync(manifest, Yaml.Join(
                """
                apiVersion: lb/v1
                kind: Certificate
                metadata: {name: shop-tls}
                spec: {certificateFile: c.pem, privateKeyFile: k.pem}
                ---

                """,
                Yaml.Pool("shop"),
                Yaml.Backend("shop-1", "shop", backend.Port),
                $$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: shop-https}
                spec:
                  tier: edge
                  port: {{port}}
                  protocol: https
                  certificates: [shop-tls]
                  routes:
                    - {pathPrefix: /, pool: shop}
                ---

                """));
            var apply = await cluster.LbctlAsync("apply", "-f", manifest);
            Assert.True(apply.ExitCode == 0, apply.ToString());
            Assert.Contains("certificate/shop-tls created", apply.Stdout, StringComparison.Ordinal);
            Assert.Contains("Warning: Certificate/shop-tls: spec.certificatePem: is a self-signed certificate marked CA:TRUE", apply.Stderr, StringComparison.Ordinal);
            Assert.Contains("Warning: Certificate/shop-tls: spec.certificatePem: the leaf certificate expires at", apply.Stderr, StringComparison.Ordinal);

            // A client that trusts the imported certificate (curl --cacert) gets through the agent.
            var url = $"https://shop.test:{port}/";
            var resolve = $"shop.test:{port}:127.0.0.1";
            await Wait.UntilAsync(async () => (await CurlAsync(folder, "--cacert", "c.pem", "--resolve", resolve, url)).ExitCode == 0,
                Propagation, "curl to trust the openssl certificate served by the agent", cluster.Diagnostics);
            var curl = await CurlAsync(folder, "--cacert", "c.pem", "--resolve", resolve, url);
            Assert.Equal("200", curl.Stdout.Trim());

            // cert rotate to another openssl certificate of 20 days: served, and the expiry is said.
            await OpensslAsync(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "20",
                "-keyout", "k2.pem", "-out", "c2.pem", "-subj", "/CN=shop.test", "-addext", "subjectAltName=DNS:shop.test");
            var rotate = await cluster.LbctlAsync("cert", "rotate", "shop-tls", "--cert", Path.Combine(folder, "c2.pem"), "--key", Path.Combine(folder, "k2.pem"));
            Assert.True(rotate.ExitCode == 0, rotate.ToString());
            Assert.Matches(@"Warning: spec\.certificatePem: the leaf certificate expires at \S+, in (19|20) days", rotate.Stderr);
            await Wait.UntilAsync(async () => (await CurlAsync(folder, "--cacert", "c2.pem", "--resolve", resolve, url)).Stdout.Trim() == "200",
                Propagation, "the rotated openssl certificate", cluster.Diagnostics);

            // A real CA placed before the leaf it signed is still refused, and the message says so.
            await OpensslAsync(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365",
                "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Shop Test CA");
            await OpensslAsync(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=shop.test");
            await File.WriteAllTextAsync(Path.Combine(folder, "leaf.ext"), "subjectAltName=DNS:shop.test\nbasicConstraints=CA:FALSE\n");
            await OpensslAsync(folder, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "90", "-extfile", "leaf.ext", "-out", "leaf.pem");
            await File.WriteAllTextAsync(Path.Combine(folder, "ca-first.pem"),
                await File.ReadAllTextAsync(Path.Combine(folder, "ca.pem")) + await File.ReadAllTextAsync(Path.Combine(folder, "leaf.pem")));
            var refused = await cluster.LbctlAsync("cert", "rotate", "shop-tls", "--cert", Path.Combine(folder, "ca-first.pem"), "--key", Path.Combine(folder, "leaf.key"));
            Assert.True(refused.ExitCode == 1, refused.ToString());
            Assert.Contains("the first certificate is the CA that issued the second", refused.Stderr, StringComparison.Ordinal);
            // ... and in the right order it is taken, without a CA warning.
            await File.WriteAllTextAsync(Path.Combine(folder, "leaf-first.pem"),
                await File.ReadAllTextAsync(Path.Combine(folder, "leaf.pem")) + await File.ReadAllTextAsync(Path.Combine(folder, "ca.pem")));
            var ordered = await cluster.LbctlAsync("cert", "rotate", "shop-tls", "--cert", Path.Combine(folder, "leaf-first.pem"), "--key", Path.Combine(folder, "leaf.key"));
            Assert.True(ordered.ExitCode == 0, ordered.ToString());
            Assert.DoesNotContain("Warning", ordered.Stderr, StringComparison.Ordinal);
            await Wait.UntilAsync(async () => (await CurlAsync(folder, "--cacert", "ca.pem", "--resolve", resolve, url)).Stdout.Trim() == "200",
                Propagation, "the CA-signed certificate", cluster.Diagnostics);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task OpensslAsync(string folder, params string[] args)
    {
        var result = await Commands.RunAsync("openssl", args, folder);
        Assert.True(result.ExitCode == 0, $"openssl {string.Join(' ', args)}: {result}");
    }

    private static Task<CommandResult> CurlAsync(string folder, params string[] args) =>
        Commands.RunAsync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", .. args], folder);
}
