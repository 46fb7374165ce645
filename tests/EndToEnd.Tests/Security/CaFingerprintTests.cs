using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Security;

/// <summary>
/// Pinning the control plane's CA by the fingerprint it prints at start, instead of copying
/// ca.crt: lbctl and an agent fetch the CA from the control plane (/ca.crt) and trust it only
/// if its SHA-256 is the one given.
/// </summary>
public sealed class CaFingerprintTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LbctlAndAgent_PinTheCaByFingerprint_AndAnotherFingerprintIsRefused()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            using var ca = X509CertificateLoader.LoadCertificateFromFile(cluster.CaFile);
            var fingerprint = Format(ca.GetCertHash(HashAlgorithmName.SHA256));
            Assert.Contains(fingerprint, cluster.ControlPlane.Output, StringComparison.Ordinal);

            var whoami = await cluster.LbctlAsync("--ca-fingerprint", fingerprint, "whoami");
            Assert.True(whoami.ExitCode == 0, whoami.ToString());

            // Given as plain hex: accepted as well as the printed form.
            var other = Convert.ToHexString(SHA256.HashData("another control plane"u8));
            var refused = await cluster.LbctlAsync("--ca-fingerprint", other, "whoami");
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains($"lbctl does not trust the certificate of the control plane at {cluster.ControlPlaneUrl}: the CA certificate served at {cluster.ControlPlaneUrl}/ca.crt has SHA-256 {fingerprint}, not the pinned {Format(SHA256.HashData("another control plane"u8))}", refused.Stderr, StringComparison.Ordinal);

            // An agent pinned the same way syncs and serves.
            var backend = await cluster.StartBackendAsync("fp-1");
            var token = await cluster.AgentTokenFileAsync("internal");
            await cluster.StartAgentProcessAsync(["--control-plane", cluster.ControlPlaneUrl, "--ca-fingerprint", fingerprint, "--token-file", token], "internal", "int-fp", "127.0.0.1", []);
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("fp"), Yaml.Backend("fp-1", "fp", backend.Port), Yaml.HttpListener("fp", "internal", port, "fp")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/") == "fp-1", TimeSpan.FromSeconds(15), "the agent pinned by fingerprint to serve", cluster.Diagnostics);
            Assert.True((await cluster.Management.GetAgentAsync(new GetRequest { Name = "int-fp" })).Status.Connected);

            // One pinned to another fingerprint never gets a snapshot: the handshake fails.
            var wrong = await cluster.StartAgentProcessAsync(["--control-plane", cluster.ControlPlaneUrl, "--ca-fingerprint", other, "--token-file", token], "internal", "int-wrong", "127.0.0.1", []);
            await Wait.UntilAsync(() => wrong.Process.Output.Contains("is not the pinned one", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the wrongly pinned agent to say why it does not sync", () => wrong.Process.Output);
            output.WriteLine(wrong.Process.Output.Split('\n').First(l => l.Contains("is not the pinned one", StringComparison.Ordinal)).Trim());
            await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await cluster.Management.GetAgentAsync(new GetRequest { Name = "int-wrong" }));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>As lb-controlplane prints it: colon-separated upper-case hex.</summary>
    private static string Format(byte[] hash) => string.Join(":", hash.Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
}
