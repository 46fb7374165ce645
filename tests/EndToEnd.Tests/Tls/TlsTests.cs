using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Tls;

/// <summary>Issue 6 end to end: SNI, rotation under load without a failed request, keys never leak.</summary>
public sealed class TlsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Sni_PicksEachCertificate_DefaultWithoutSni_RotationUnderLoadLosesNothing_KeyNeverLeaks()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("tls-1");
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var shop = TestCertificate.Create("shop.example.test");
            var wildcard = TestCertificate.Create("*.api.example.test");
            var shopFiles = await shop.WriteAsync(cluster.Root, "shop");
            var wildcardFiles = await wildcard.WriteAsync(cluster.Root, "wild");

            var apply = await cluster.ApplyAsync(Yaml.Join(
                Certificate("shop-tls", shopFiles),
                Certificate("api-tls", wildcardFiles),
                Yaml.Pool("secure"),
                Yaml.Backend("tls-1", "secure", backend.Port),
                $$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: secure}
                spec:
                  tier: edge
                  port: {{port}}
                  protocol: https
                  certificates: [shop-tls, api-tls]
                  routes:
                    - {pathPrefix: /, pool: secure}
                ---

                """));
            Assert.True(apply.ExitCode == 0, apply.ToString());

            await Wait.UntilAsync(async () => await FingerprintAsync(port, "shop.example.test") == shop.Fingerprint, Propagation, "the https listener", cluster.Diagnostics);
            Assert.Equal(wildcard.Fingerprint, await FingerprintAsync(port, "v1.api.example.test"));
            Assert.Equal(shop.Fingerprint, await FingerprintAsync(port, null));
            Assert.Equal(shop.Fingerprint, await FingerprintAsync(port, "unknown.example.test"));
            // A wildcard covers one label only.
            Assert.Equal(shop.Fingerprint, await FingerprintAsync(port, "a.b.api.example.test"));

            // HTTP/2 and HTTP/1.1 are both offered by ALPN.
            Assert.Equal(SslApplicationProtocol.Http2, await AlpnAsync(port, SslApplicationProtocol.Http2));
            Assert.Equal(SslApplicationProtocol.Http11, await AlpnAsync(port, SslApplicationProtocol.Http11));

            // A keep-alive connection opened before the rotation, used again after it.
            await using var pinned = new PinnedConnection(port, "shop.example.test");
            Assert.Equal(System.Net.HttpStatusCode.OK, await pinned.GetAsync());
            Assert.Equal(shop.Fingerprint, pinned.Fingerprint);

            // Rotation under load from several keep-alive connections.
            var rotated = TestCertificate.Create("shop.example.test");
            var rotatedFiles = await rotated.WriteAsync(cluster.Root, "shop-new");
            using var load = new HttpsLoad(port, "shop.example.test", workers: 4);
            await Wait.UntilAsync(() => load.Succeeded > 40, Propagation, "https load to run");
            var rotate = await cluster.LbctlAsync("cert", "rotate", "shop-tls", "--cert", rotatedFiles.Cert, "--key", rotatedFiles.Key);
            Assert.True(rotate.ExitCode == 0, rotate.ToString());
            var seen = await Wait.UntilAsync(async () => await FingerprintAsync(port, "shop.example.test") == rotated.Fingerprint, Propagation, "the new certificate on new connections", cluster.Diagnostics);
            output.WriteLine($"new connections saw the rotated certificate {seen.TotalMilliseconds:0} ms after lbctl returned");
            Assert.True(seen < TimeSpan.FromSeconds(1), $"took {seen.TotalMilliseconds:0} ms");
            Assert.Equal(rotated.Fingerprint, await FingerprintAsync(port, "shop.example.test"));
            // Open connections continue untouched: same TLS session, still the old certificate.
            Assert.Equal(System.Net.HttpStatusCode.OK, await pinned.GetAsync());
            Assert.Equal((shop.Fingerprint, 1), (pinned.Fingerprint, pinned.Connects));
            await Wait.UntilAsync(() => load.Succeeded > load.SucceededAtMark() + 40, Propagation, "load after the rotation");
            var (succeeded, failed) = await load.StopAsync();
            output.WriteLine($"https requests during rotation: {succeeded} succeeded, {failed} failed");
            Assert.Equal(0, failed);

            // The private key never leaves: not in lbctl output, not in the API, not in the database file.
            var keyMarkers = new[] { shop, wildcard, rotated }.Select(c => c.KeyMarker).ToList();
            foreach (var args in new[] { new[] { "get", "certificates", "-o", "json" }, ["get", "certificates", "-o", "yaml"], ["describe", "certificate", "shop-tls"], ["get", "certificate", "shop-tls", "-o", "yaml"] })
            {
                var result = await cluster.LbctlAsync(args);
                Assert.Equal(0, result.ExitCode);
                Assert.DoesNotContain("PRIVATE KEY", result.Stdout, StringComparison.Ordinal);
                Assert.All(keyMarkers, marker => Assert.DoesNotContain(marker, result.Stdout, StringComparison.Ordinal));
            }
            var viaApi = (await cluster.Management.GetCertificateAsync(new GetRequest { Name = "shop-tls" })).ToString()
                + (await cluster.Management.ListCertificatesAsync(new ListRequest())).ToString();
            Assert.All(keyMarkers, marker => Assert.DoesNotContain(marker, viaApi, StringComparison.Ordinal));
            Assert.Equal(rotated.Fingerprint, (await cluster.Management.GetCertificateAsync(new GetRequest { Name = "shop-tls" })).Status.FingerprintSha256);

            foreach (var file in Directory.GetFiles(Path.Combine(cluster.Root, "cp-data")))
            {
                var bytes = await File.ReadAllBytesAsync(file);
                var text = System.Text.Encoding.Latin1.GetString(bytes);
                Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
                Assert.All(keyMarkers, marker => Assert.DoesNotContain(marker, text, StringComparison.Ordinal));
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static string Certificate(string name, (string Cert, string Key) files) =>
        $$"""
        apiVersion: lb/v1
        kind: Certificate
        metadata: {name: {{name}}}
        spec:
          certificateFile: {{files.Cert}}
          privateKeyFile: {{files.Key}}
        ---

        """;

    /// <summary>A fresh TLS connection's server certificate fingerprint (lowercase hex SHA-256).</summary>
    private static async Task<string?> FingerprintAsync(int port, string? serverName)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        X509Certificate2? presented = null;
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            presented = certificate is null ? null : new X509Certificate2(certificate);
            return true;
        });
        // An IP address as target host sends no SNI.
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName ?? "127.0.0.1" });
        return presented?.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
    }

    private static async Task<SslApplicationProtocol> AlpnAsync(int port, SslApplicationProtocol protocol)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "shop.example.test",
            ApplicationProtocols = [protocol],
        });
        return ssl.NegotiatedApplicationProtocol;
    }

    /// <summary>
    /// One HTTP/1.1 keep-alive connection over TLS made by the test itself, so that it can read
    /// the certificate of that very connection and count how many connections were made.
    /// </summary>
    private sealed class PinnedConnection : IAsyncDisposable
    {
        private readonly HttpClient _client;
        private readonly string _url;
        private SslStream? _tls;
        private int _connects;

        public PinnedConnection(int port, string host)
        {
            _url = $"http://{host}:{port}/";
            // The callback hands over an established TLS stream, so the handler speaks plain
            // HTTP/1.1 over it; one connection at most, so both requests share it.
            _client = new HttpClient(new SocketsHttpHandler
            {
                MaxConnectionsPerServer = 1,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                ConnectCallback = async (_, ct) =>
                {
                    Interlocked.Increment(ref _connects);
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync("127.0.0.1", port, ct);
                    var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), false, (_, _, _, _) => true);
                    await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host, ApplicationProtocols = [SslApplicationProtocol.Http11] }, ct);
                    _tls = tls;
                    return tls;
                },
            })
            { Timeout = TimeSpan.FromSeconds(10) };
        }

        public int Connects => Volatile.Read(ref _connects);

        public string? Fingerprint => _tls?.RemoteCertificate?.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();

        public async Task<System.Net.HttpStatusCode> GetAsync()
        {
            using var response = await _client.GetAsync(_url);
            await response.Content.ReadAsByteArrayAsync();
            return response.StatusCode;
        }

        public ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class HttpsLoad : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private int _succeeded;
        private int _failed;
        private int _mark;

        public HttpsLoad(int port, string host, int workers)
        {
            _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(() => RunAsync(port, host))).ToArray();
        }

        public int Succeeded => Volatile.Read(ref _succeeded);

        public int SucceededAtMark()
        {
            if (_mark == 0)
            {
                _mark = Succeeded;
            }
            return _mark;
        }

        private async Task RunAsync(int port, string host)
        {
            // Each worker keeps its connection open across the rotation.
            using var client = new HttpClient(new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync("127.0.0.1", port, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
                SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            })
            { Timeout = TimeSpan.FromSeconds(10) };
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync($"https://{host}:{port}/", _stop.Token);
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _succeeded);
                    }
                    else
                    {
                        Interlocked.Increment(ref _failed);
                    }
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref _failed);
                }
            }
        }

        public async Task<(int Succeeded, int Failed)> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            return (Succeeded, Volatile.Read(ref _failed));
        }

        public void Dispose() => _stop.Cancel();
    }
}

/// <summary>A self-signed leaf (not a CA) for the tests, with its PEMs and a marker of its key.</summary>
internal sealed record TestCertificate(string CertificatePem, string KeyPem, string Fingerprint)
{
    /// <summary>A line from the middle of the key's PEM body: finding it anywhere means the key leaked.</summary>
    public string KeyMarker => KeyPem.Split('\n', StringSplitOptions.RemoveEmptyEntries)[2];

    public static TestCertificate Create(string dnsName)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(90));
        return new TestCertificate(
            certificate.ExportCertificatePem() + "\n",
            key.ExportPkcs8PrivateKeyPem() + "\n",
            certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant());
    }

    public async Task<(string Cert, string Key)> WriteAsync(string directory, string name)
    {
        var cert = Path.Combine(directory, name + ".crt");
        var key = Path.Combine(directory, name + ".key");
        await File.WriteAllTextAsync(cert, CertificatePem);
        await File.WriteAllTextAsync(key, KeyPem);
        return (cert, key);
    }
}
