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

            // Rotation under load from short-lived connections: every request opens a new TCP
            // connection and makes a new TLS handshake, so handshakes run all through the swap,
            // and each one must succeed with the old certificate or the new one.
            var rotated = TestCertificate.Create("shop.example.test");
            var rotatedFiles = await rotated.WriteAsync(cluster.Root, "shop-new");
            using var churn = new HandshakeChurn(port, "shop.example.test", workers: 4);
            await Wait.UntilAsync(() => churn.Count(shop.Fingerprint) > 40, Propagation, "short https connections to run", () => churn.Describe() + cluster.Diagnostics());
            var beforeRotation = churn.Total;
            var rotate = await cluster.LbctlAsync("cert", "rotate", "shop-tls", "--cert", rotatedFiles.Cert, "--key", rotatedFiles.Key);
            Assert.True(rotate.ExitCode == 0, rotate.ToString());
            // A handshake failing while the new certificate arrives is a failure, not a retry.
            var swallowed = new List<Exception>();
            var seen = await Wait.UntilAsync(async () => await FingerprintAsync(port, "shop.example.test") == rotated.Fingerprint, Propagation, "the new certificate on new connections", cluster.Diagnostics, swallowed);
            output.WriteLine($"new connections saw the rotated certificate {seen.TotalMilliseconds:0} ms after lbctl returned");
            Assert.Empty(swallowed);
            Assert.True(seen < TimeSpan.FromSeconds(1), $"took {seen.TotalMilliseconds:0} ms");
            Assert.Equal(rotated.Fingerprint, await FingerprintAsync(port, "shop.example.test"));
            var duringRotation = churn.Total - beforeRotation;
            // Open connections continue untouched: same TLS session, still the old certificate.
            Assert.Equal(System.Net.HttpStatusCode.OK, await pinned.GetAsync());
            Assert.Equal((shop.Fingerprint, 1), (pinned.Fingerprint, pinned.Connects));
            await Wait.UntilAsync(() => churn.Count(rotated.Fingerprint) > 40, Propagation, "short https connections after the rotation", () => churn.Describe() + cluster.Diagnostics());
            await churn.StopAsync();
            output.WriteLine($"short https connections: {churn.Describe()}; {duringRotation} of them from lbctl's start until the new certificate was seen");
            Assert.True(duringRotation >= 10, $"only {duringRotation} new connections were made during the rotation");
            Assert.Equal(0, churn.Failed);
            Assert.Equal(churn.Total, churn.Count(shop.Fingerprint) + churn.Count(rotated.Fingerprint));
            // The swap is one step: a connection begun after one got the new certificate never gets the old.
            Assert.Equal(0, churn.StartedAfterFirstOf(rotated.Fingerprint, shop.Fingerprint));

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
    internal static async Task<string?> FingerprintAsync(int port, string? serverName)
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

    /// <summary>
    /// Sequential short-lived HTTPS requests from a few workers until stopped: each is a new TCP
    /// connection, a full TLS handshake (no session resumption) and one "Connection: close"
    /// request, so that every one of them is a handshake the listener answers at that moment.
    /// Records the certificate each connection was given, and every failure.
    /// </summary>
    private sealed class HandshakeChurn : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private readonly List<(long Started, long Completed, string Fingerprint)> _connections = [];
        private readonly List<string> _failures = [];

        public HandshakeChurn(int port, string host, int workers)
        {
            _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(() => RunAsync(port, host))).ToArray();
        }

        /// <summary>Connections that completed, whatever the outcome.</summary>
        public int Total
        {
            get
            {
                lock (_connections)
                {
                    return _connections.Count + _failures.Count;
                }
            }
        }

        public int Failed
        {
            get
            {
                lock (_connections)
                {
                    return _failures.Count;
                }
            }
        }

        /// <summary>Successful connections that were given the certificate with this fingerprint.</summary>
        public int Count(string fingerprint)
        {
            lock (_connections)
            {
                return _connections.Count(c => c.Fingerprint == fingerprint);
            }
        }

        /// <summary>Connections given <paramref name="old"/> that began after the first one given <paramref name="first"/> had completed.</summary>
        public int StartedAfterFirstOf(string first, string old)
        {
            lock (_connections)
            {
                var firstDone = _connections.Where(c => c.Fingerprint == first).Select(c => c.Completed).DefaultIfEmpty(long.MaxValue).Min();
                return _connections.Count(c => c.Fingerprint == old && c.Started > firstDone);
            }
        }

        public string Describe()
        {
            lock (_connections)
            {
                var byCertificate = string.Join(", ", _connections.GroupBy(c => c.Fingerprint[..12]).Select(g => $"{g.Count()} with {g.Key}..."));
                return $"{_connections.Count} succeeded ({byCertificate}), {_failures.Count} failed{(_failures.Count > 0 ? ": " + string.Join(" | ", _failures.Distinct().Take(5)) : "")}\n";
            }
        }

        private async Task RunAsync(int port, string host)
        {
            var buffer = new byte[4096];
            var request = System.Text.Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            while (!_stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(10));
                    using var tcp = new TcpClient();
                    await tcp.ConnectAsync("127.0.0.1", port, timeout.Token);
                    await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
                    await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host, ApplicationProtocols = [SslApplicationProtocol.Http11], AllowTlsResume = false }, timeout.Token);
                    var fingerprint = tls.RemoteCertificate!.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
                    await tls.WriteAsync(request, timeout.Token);
                    var answer = new System.Text.StringBuilder();
                    int read;
                    while ((read = await tls.ReadAsync(buffer, timeout.Token)) > 0)
                    {
                        answer.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
                    }
                    var text = answer.ToString();
                    lock (_connections)
                    {
                        if (text.StartsWith("HTTP/1.1 200 ", StringComparison.Ordinal))
                        {
                            _connections.Add((started, Stopwatch.GetTimestamp(), fingerprint));
                        }
                        else
                        {
                            _failures.Add("answered: " + text.Split('\n')[0].Trim());
                        }
                    }
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
                {
                    lock (_connections)
                    {
                        _failures.Add($"{ex.GetType().Name}: {ex.Message}");
                    }
                }
            }
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
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
