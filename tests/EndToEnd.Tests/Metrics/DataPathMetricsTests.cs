using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.LoadBalancing;
using LoadBalancer.EndToEnd.Tests.Tls;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Metrics;

/// <summary>
/// The data path's metrics move by what the traffic through the agent did: TCP connections and
/// bytes, TLS handshakes, the served certificate's expiry, and the request latency histogram.
/// </summary>
public sealed class DataPathMetricsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    // The slow backend answers after this; the histogram must put each of its requests above it.
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(600);

    [Fact]
    public async Task TcpConnectionsAndBytes_TlsHandshakes_CertificateExpiry_AndLatencyBuckets_FollowTheTraffic()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var slow = await ControlledBackend.StartAsync("slow-1", Delay);
        try
        {
            var echoPort = Ports.Free();
            cluster.Track(ManagedProcess.Start("echo-1", Binaries.SampleBackend, ["--name", "echo-1", "--port", echoPort.ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
            var web = await cluster.StartBackendAsync("web-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var certificate = TestCertificate.Create("site.example.test");
            var files = await certificate.WriteAsync(cluster.Root, "site");
            var (tcpPort, httpsPort, slowPort) = (Ports.Free(), Ports.Free(), Ports.Free());
            var apply = await cluster.ApplyAsync(Yaml.Join(
                $$"""
                apiVersion: lb/v1
                kind: Certificate
                metadata: {name: site-tls}
                spec:
                  certificateFile: {{files.Cert}}
                  privateKeyFile: {{files.Key}}
                ---

                """,
                Yaml.Pool("echo", protocol: "tcp"),
                Yaml.Backend("echo-1", "echo", echoPort),
                Yaml.Pool("web"),
                Yaml.Backend("web-1", "web", web.Port),
                Yaml.Pool("slow"),
                Yaml.Backend("slow-1", "slow", slow.Port),
                $$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: echo}
                spec: {tier: edge, port: {{tcpPort}}, protocol: tcp, pool: echo}
                ---
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: secure}
                spec:
                  tier: edge
                  port: {{httpsPort}}
                  protocol: https
                  certificates: [site-tls]
                  routes:
                    - {pathPrefix: /, pool: web}
                ---

                """,
                Yaml.HttpListener("slow", "edge", slowPort, "slow")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{slowPort}/") == "slow-1", Propagation, "the slow listener", cluster.Diagnostics);
            await Wait.UntilAsync(async () => await HandshakeAsync(httpsPort) == certificate.Fingerprint, Propagation, "the https listener", cluster.Diagnostics);
            await Wait.UntilAsync(
                async () =>
                {
                    using var probe = await EchoClient.OpenAsync(tcpPort);
                    return true;
                },
                Propagation,
                "the tcp listener",
                cluster.Diagnostics);

            // TCP: three connections open at once, a known number of bytes each way through each.
            var open = Series("lb_agent_tcp_connections_open", "echo", "echo-1");
            var total = Series("lb_agent_tcp_connections_total", "echo", "echo-1");
            var toBackend = Series("lb_agent_tcp_bytes_total", "echo", "echo-1", "direction=\"to_backend\"");
            var toClient = Series("lb_agent_tcp_bytes_total", "echo", "echo-1", "direction=\"to_client\"");
            await WaitForAsync(cluster, agent, open, 0);
            var before = await ScrapeAsync(cluster, agent);
            var payload = new byte[10_000];
            Random.Shared.NextBytes(payload);
            var clients = new List<EchoClient>();
            try
            {
                for (var i = 0; i < 3; i++)
                {
                    var client = await EchoClient.OpenAsync(tcpPort);
                    clients.Add(client);
                    Assert.Equal(payload, await client.EchoAsync(payload));
                }
                // Counted as the bytes pass, so these are reached at once and never passed.
                await WaitForAsync(cluster, agent, open, 3);
                await WaitForAsync(cluster, agent, total, before.GetValueOrDefault(total) + 3);
                await WaitForAsync(cluster, agent, toBackend, before.GetValueOrDefault(toBackend) + (3 * payload.Length));
                // "echo-1\n" then the echo, on each connection.
                await WaitForAsync(cluster, agent, toClient, before.GetValueOrDefault(toClient) + (3 * (7 + payload.Length)));

                clients[0].Dispose();
                await WaitForAsync(cluster, agent, open, 2);
            }
            finally
            {
                clients.ForEach(c => c.Dispose());
            }
            await WaitForAsync(cluster, agent, open, 0);

            // TLS: every handshake the listener answered is counted, by listener.
            var handshakes = "lb_agent_tls_handshakes_total{listener=\"secure\"}";
            var handshakesBefore = (await ScrapeAsync(cluster, agent)).GetValueOrDefault(handshakes);
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(certificate.Fingerprint, await HandshakeAsync(httpsPort));
            }
            Assert.Equal(5, (await ScrapeAsync(cluster, agent)).GetValueOrDefault(handshakes) - handshakesBefore);

            // The served certificate's expiry, in seconds from now.
            using var leaf = X509Certificate2.CreateFromPem(certificate.CertificatePem);
            var atMost = (leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow).TotalSeconds;
            var expiry = (await ScrapeAsync(cluster, agent))["lb_agent_certificate_expiry_seconds{certificate=\"site-tls\"}"];
            var atLeast = (leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow).TotalSeconds;
            output.WriteLine($"certificate expiry: {expiry:0.0} s reported, between {atLeast:0.0} and {atMost:0.0} s expected");
            Assert.InRange(expiry, atLeast - 1, atMost + 1);

            // Latency: each request to a backend that answers after 600 ms lies above 600 ms, so
            // no bucket below that counts it; every bucket from three times that on does.
            const int Requests = 4;
            var histogram = "lb_agent_request_duration_seconds";
            var latencyBefore = await ScrapeAsync(cluster, agent);
            using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
            {
                for (var i = 0; i < Requests; i++)
                {
                    using var response = await http.GetAsync($"http://127.0.0.1:{slowPort}/work");
                    Assert.True(response.IsSuccessStatusCode);
                }
            }
            var latencyAfter = await ScrapeAsync(cluster, agent);
            double Delta(string key) => latencyAfter.GetValueOrDefault(key) - latencyBefore.GetValueOrDefault(key);
            var buckets = latencyAfter.Keys
                .Where(k => k.StartsWith($"{histogram}_bucket{{pool=\"slow\",backend=\"slow-1\",le=\"", StringComparison.Ordinal))
                .Select(k => (Key: k, Le: ParseLe(k)))
                .OrderBy(b => b.Le)
                .ToList();
            output.WriteLine(string.Join(", ", buckets.Select(b => $"le {b.Le}: +{Delta(b.Key)}")));
            Assert.Contains(buckets, b => b.Le < Delay.TotalSeconds);
            Assert.Contains(buckets, b => b.Le >= 3 * Delay.TotalSeconds && !double.IsPositiveInfinity(b.Le));
            Assert.All(buckets.Where(b => b.Le < Delay.TotalSeconds), b => Assert.True(Delta(b.Key) == 0, $"{b.Key} counted {Delta(b.Key)} requests faster than the backend answers"));
            Assert.All(buckets.Where(b => b.Le >= 3 * Delay.TotalSeconds), b => Assert.True(Delta(b.Key) == Requests, $"{b.Key} counted {Delta(b.Key)} of {Requests}"));
            Assert.Equal(Requests, Delta($"{histogram}_count{{pool=\"slow\",backend=\"slow-1\"}}"));
            Assert.InRange(Delta($"{histogram}_sum{{pool=\"slow\",backend=\"slow-1\"}}"), Requests * Delay.TotalSeconds, Requests * 3 * Delay.TotalSeconds);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static string Series(string metric, string pool, string backend, string? extra = null) =>
        $"{metric}{{pool=\"{pool}\",backend=\"{backend}\"{(extra is null ? "" : "," + extra)}}}";

    private static double ParseLe(string key)
    {
        var start = key.IndexOf("le=\"", StringComparison.Ordinal) + 4;
        var value = key[start..key.IndexOf('"', start)];
        return value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture);
    }

    private static Task<Dictionary<string, double>> ScrapeAsync(TestCluster cluster, AgentHandle agent) => MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl);

    private static Task WaitForAsync(TestCluster cluster, AgentHandle agent, string series, double value)
    {
        double last = -1;
        return Wait.UntilAsync(
            async () => (last = (await ScrapeAsync(cluster, agent)).GetValueOrDefault(series, -1)) == value,
            Propagation,
            $"{series} to be {value}",
            () => $"last seen {last}");
    }

    /// <summary>A full TLS handshake with SNI site.example.test; the served certificate's fingerprint.</summary>
    private static async Task<string> HandshakeAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "site.example.test", AllowTlsResume = false });
        return tls.RemoteCertificate!.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256).ToLowerInvariant();
    }

    /// <summary>A connection through the agent to the echo backend, past its greeting.</summary>
    private sealed class EchoClient : IDisposable
    {
        private readonly TcpClient _client;

        private EchoClient(TcpClient client) => _client = client;

        public static async Task<EchoClient> OpenAsync(int port)
        {
            var client = new TcpClient();
            try
            {
                await client.ConnectAsync("127.0.0.1", port);
                var greeting = new byte[7];
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.GetStream().ReadExactlyAsync(greeting, timeout.Token);
                Assert.Equal("echo-1\n", System.Text.Encoding.ASCII.GetString(greeting));
                return new EchoClient(client);
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        public async Task<byte[]> EchoAsync(byte[] payload)
        {
            var stream = _client.GetStream();
            await stream.WriteAsync(payload);
            var echoed = new byte[payload.Length];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await stream.ReadExactlyAsync(echoed, timeout.Token);
            return echoed;
        }

        public void Dispose() => _client.Dispose();
    }
}
