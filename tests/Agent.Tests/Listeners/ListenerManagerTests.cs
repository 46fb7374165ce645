using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Listeners;

/// <summary>Real listeners of an in-process agent on loopback ports, real backends.</summary>
public sealed class ListenerManagerTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(8);

    private InProcessAgent _agent = null!;
    private TestHttpBackend _one = null!;
    private TestHttpBackend _two = null!;

    private ConfigApplier Applier => _agent.Applier;

    private ListenerManager Manager => _agent.Listeners;

    private long Revision => _agent.Revision;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("edge");
        _one = await TestHttpBackend.StartAsync("one");
        _two = await TestHttpBackend.StartAsync("two");
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _one.DisposeAsync();
        await _two.DisposeAsync();
    }

    private Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(params ListenerConfig[] listeners) => ApplyAsync([], listeners);

    private Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(IReadOnlyList<CertificateConfig> certificates, params ListenerConfig[] listeners) =>
        _agent.ApplyAsync(listeners, [Pool("one", [Backend("b1", _one.Port)]), Pool("two", [Backend("b2", _two.Port)])], certificates);

    private static async Task<string> GetAsync(int port, string host = "app.test")
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
        request.Headers.Host = host;
        using var response = await client.SendAsync(request);
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    private static async Task<bool> AcceptsConnectionsAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Apply_HttpListener_ProxiesToTheRoutedBackend()
    {
        var port = Ports.Free();

        var outcomes = await ApplyAsync(Http("public", port, Route("one")));

        Assert.Equal([new ListenerOutcome("public", true, string.Empty)], outcomes);
        Assert.Equal("200 one", await GetAsync(port));
        Assert.True(Applier.HasConfig);
        Assert.Equal(Revision, Applier.Current.Revision);
    }

    [Fact]
    public async Task Apply_AfterStopping_ChangesNothing_SoADrainIsNeverUndone()
    {
        var kept = Ports.Free();
        var added = Ports.Free();
        await ApplyAsync(Http("kept", kept, Route("one")));

        // SIGTERM: listeners drain; a snapshot arriving now must not reopen or add any.
        await Manager.StopAllAsync(TimeSpan.FromSeconds(1));
        var outcomes = await ApplyAsync(Http("kept", kept, Route("one")), Http("added", added, Route("two")));

        Assert.False(await AcceptsConnectionsAsync(kept), "the drained listener stays closed");
        Assert.False(await AcceptsConnectionsAsync(added), "no listener is opened while stopping");
        Assert.DoesNotContain(outcomes, o => o.Name == "added");
    }

    [Fact]
    public async Task Apply_RoutesByHost_UnknownHostGets404()
    {
        var port = Ports.Free();

        await ApplyAsync(Http("public", port, Route("one", "/", "one.test"), Route("two", "/", "*.two.test")));

        Assert.Equal("200 one", await GetAsync(port, "one.test"));
        Assert.Equal("200 two", await GetAsync(port, "x.two.test:" + port));
        Assert.StartsWith("404 ", await GetAsync(port, "three.test"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_PortInUse_FailsAlone_ThenComesUpWhenFreed()
    {
        var good = Ports.Free();
        var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var taken = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Manager.OutcomesChanged += () => changed.TrySetResult();

        try
        {
            var outcomes = await ApplyAsync(Http("good", good, Route("one")), Http("blocked", taken, Route("two")));

            Assert.True(outcomes.Single(o => o.Name == "good").Programmed);
            var blocked = outcomes.Single(o => o.Name == "blocked");
            Assert.False(blocked.Programmed);
            Assert.Contains("in use", blocked.Reason, StringComparison.Ordinal);
            Assert.Equal("200 one", await GetAsync(good));
        }
        finally
        {
            blocker.Stop();
        }

        await changed.Task.WaitAsync(Wait);
        Assert.All(Manager.Outcomes, o => Assert.True(o.Programmed, o.Name));
        Assert.Equal("200 two", await GetAsync(taken));
        Assert.Equal("200 one", await GetAsync(good));
    }

    [Fact]
    public async Task Apply_RemovedListener_ClosesItsPort_OthersKeepServing()
    {
        var kept = Ports.Free();
        var removed = Ports.Free();
        await ApplyAsync(Http("kept", kept, Route("one")), Http("removed", removed, Route("two")));
        Assert.Equal("200 two", await GetAsync(removed));

        await ApplyAsync(Http("kept", kept, Route("one")));

        Assert.False(await AcceptsConnectionsAsync(removed));
        Assert.Equal("200 one", await GetAsync(kept));
        Assert.Equal(["kept"], Manager.Outcomes.Select(o => o.Name));
    }

    [Fact]
    public async Task Apply_OnlyRoutesChanged_KeepsOpenConnectionsAndServesNewRoutes()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one")));
        using var connection = new TcpClient();
        await connection.ConnectAsync(IPAddress.Loopback, port);
        var stream = connection.GetStream();
        Assert.Equal("one", await RawGetAsync(stream));

        await ApplyAsync(Http("public", port, Route("two")));

        // Same TCP connection, second request: the server was not restarted.
        Assert.Equal("two", await RawGetAsync(stream));
    }

    [Fact]
    public async Task Apply_PortChanged_NewPortServes_OldPortCloses()
    {
        var before = Ports.Free();
        var after = Ports.Free();
        await ApplyAsync(Http("public", before, Route("one")));

        var outcomes = await ApplyAsync(Http("public", after, Route("one")));

        Assert.True(Assert.Single(outcomes).Programmed);
        Assert.Equal("200 one", await GetAsync(after));
        Assert.False(await AcceptsConnectionsAsync(before));
    }

    [Fact]
    public async Task Apply_SameConfigTwice_IsANoOp()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one")));
        using var connection = new TcpClient();
        await connection.ConnectAsync(IPAddress.Loopback, port);
        var stream = connection.GetStream();
        Assert.Equal("one", await RawGetAsync(stream));

        var outcomes = await ApplyAsync(Http("public", port, Route("one")));

        Assert.True(Assert.Single(outcomes).Programmed);
        Assert.Equal("one", await RawGetAsync(stream));
    }

    // The control plane accepts a swap of ports within one Apply (commit a53de5a).
    [Fact]
    public async Task Apply_TwoListenersSwapPorts_BothComeUpOnTheirNewPorts()
    {
        var portA = Ports.Free();
        var portB = Ports.Free();
        await ApplyAsync(Http("x", portA, Route("one")), Http("y", portB, Route("two")));

        var outcomes = await ApplyAsync(Http("x", portB, Route("one")), Http("y", portA, Route("two")));

        Assert.All(outcomes, o => Assert.True(o.Programmed, $"{o.Name}: {o.Reason}"));
        Assert.Equal("200 two", await GetAsync(portA));
        Assert.Equal("200 one", await GetAsync(portB));
    }

    [Fact]
    public async Task Apply_ProtocolChangedOnTheSamePort_IsApplied()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one", "/", "only.test")));
        Assert.StartsWith("404 ", await GetAsync(port, "other.test"), StringComparison.Ordinal);
        var tcp = new ListenerConfig("public", port, "tcp", EquatableArray<string>.Empty, EquatableArray<RouteConfig>.Empty, "one");

        var outcomes = await ApplyAsync(tcp);

        Assert.True(Assert.Single(outcomes).Programmed, outcomes[0].Reason);
        // Raw TCP to the backend: no route table any more.
        Assert.Equal("200 one", await GetAsync(port, "other.test"));
    }

    [Fact]
    public async Task Apply_FailedPortChangeThenReverted_ListenerStaysOnTheRevertedPort()
    {
        // The retry loop runs on a fake clock, so the test can move it past every backoff and
        // know when the loop has looked at its failed listeners.
        var time = new CountingTimeProvider();
        await using var agent = await InProcessAgent.StartAsync("edge", time);
        var pools = new[] { Pool("one", [Backend("b1", _one.Port)]) };
        var port = Ports.Free();
        using var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var taken = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var changes = 0;
        agent.Listeners.OutcomesChanged += () => Interlocked.Increment(ref changes);
        await agent.ApplyAsync([Http("public", port, Route("one"))], pools);
        Assert.False(Assert.Single(await agent.ApplyAsync([Http("public", taken, Route("one"))], pools)).Programmed);

        Assert.True(Assert.Single(await agent.ApplyAsync([Http("public", port, Route("one"))], pools)).Programmed);
        blocker.Stop();

        // Past the longest backoff (30 s, +20% jitter) the loop takes a turn: a retry of the
        // abandoned form would now bind the freed port. The turn is over once the loop waits again.
        await Eventually.TrueAsync(() => time.Pending == 1, Wait, "the retry loop to wait for its tick");
        var turns = time.Created;
        await time.AdvanceAsync(TimeSpan.FromMinutes(1));
        await Eventually.TrueAsync(() => time.Created > turns, Wait, "the retry loop to take its turn");
        Assert.Equal(0, changes);
        Assert.Equal("200 one", await GetAsync(port));
        Assert.False(await AcceptsConnectionsAsync(taken));
    }

    [Fact]
    public async Task Apply_RotatedCertificateTheAgentCannotLoad_ListenerKeepsServingTheOldOne()
    {
        var port = Ports.Free();
        var old = TestCertificates.Ecdsa("site", "app.test");
        Assert.True((await ApplyAsync([old], Https("public", port, ["site"], Route("one")))).Single().Programmed);
        Assert.Equal(old.Fingerprint, (await HandshakeAsync(port, "app.test")).Fingerprint);

        // The new version's key belongs to another certificate: the platform refuses to pair them.
        var rotated = TestCertificates.Ecdsa("site", "app.test");
        var broken = rotated with { PrivateKeyPem = TestCertificates.Ecdsa("other", "other.test").PrivateKeyPem };
        var outcome = (await ApplyAsync([broken], Https("public", port, ["site"], Route("one")))).Single();

        Assert.False(outcome.Programmed);
        Assert.StartsWith("certificate cannot be loaded", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(old.Fingerprint, (await HandshakeAsync(port, "app.test")).Fingerprint);
        Assert.Equal([("public", "site", old.Fingerprint)], Manager.ServedCertificates);

        // A loadable version afterwards is taken up (the failure did not wedge the listener).
        Assert.True((await ApplyAsync([rotated], Https("public", port, ["site"], Route("one")))).Single().Programmed);
        Assert.Equal(rotated.Fingerprint, (await HandshakeAsync(port, "app.test")).Fingerprint);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Https_NegotiatesTls12AndTls13(SslProtocols only)
    {
        var port = Ports.Free();
        var certificate = TestCertificates.Rsa("site", "app.test");
        await ApplyAsync([certificate], Https("public", port, ["site"], Route("one")));

        var (fingerprint, protocol) = await HandshakeAsync(port, "app.test", only);

        Assert.Equal((certificate.Fingerprint, only), (fingerprint, protocol));
    }

    // The client side cannot be trusted to offer TLS 1.1 (OpenSSL's system policy disables it in
    // SslStream), so the test writes a TLS 1.1 ClientHello by hand and reads the server's answer.
    [Theory]
    [InlineData(0x01)]
    [InlineData(0x02)]
    public async Task Https_ClientOfferingOnlyTls10Or11_GetsAProtocolVersionAlertAndNoServerHello(byte minor)
    {
        var port = Ports.Free();
        await ApplyAsync([TestCertificates.Rsa("rsa", "app.test"), TestCertificates.Ecdsa("ec", "ec.test")], Https("public", port, ["rsa", "ec"], Route("one")));
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);

        await socket.SendAsync(LegacyClientHello(minor, "app.test"));
        var answer = await SocketReads.ReadToEndAsync(socket, TimeSpan.FromSeconds(5));

        // An alert record (21), two bytes long: level fatal (2), description protocol_version (70).
        Assert.True(answer.Length >= 7, $"expected an alert, got {Convert.ToHexString(answer)}");
        Assert.Equal(21, answer[0]);
        Assert.Equal((byte)2, answer[5]);
        Assert.Equal((byte)70, answer[6]);
    }

    /// <summary>A minimal ClientHello for TLS 1.{minor - 1} (no supported_versions extension, so nothing newer is offered).</summary>
    private static byte[] LegacyClientHello(byte minor, string host)
    {
        var name = System.Text.Encoding.ASCII.GetBytes(host);
        var serverName = new List<byte> { 0x00, 0x00 };
        serverName.AddRange(Length16(Length16([0x00, .. Length16(name)])));
        byte[] extensions =
        [
            .. serverName,
            0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, // supported_groups: secp256r1
            0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
        ];
        byte[] suites = [0xc0, 0x13, 0xc0, 0x09, 0xc0, 0x14, 0xc0, 0x0a, 0x00, 0x2f, 0x00, 0x35];
        byte[] body = [0x03, minor, .. RandomNumberGenerator.GetBytes(32), 0x00, .. Length16(suites), 0x01, 0x00, .. Length16(extensions)];
        byte[] handshake = [0x01, 0x00, (byte)(body.Length >> 8), (byte)body.Length, .. body];
        return [0x16, 0x03, 0x01, .. Length16(handshake)];
    }

    private static byte[] Length16(byte[] data) => [(byte)(data.Length >> 8), (byte)data.Length, .. data];

    /// <summary>A real TLS handshake with the listener; the certificate it served and the protocol agreed.</summary>
    private static async Task<(string Fingerprint, SslProtocols Protocol)> HandshakeAsync(int port, string host, SslProtocols protocols = SslProtocols.None)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host, EnabledSslProtocols = protocols }, cts.Token);
        Assert.NotNull(tls.RemoteCertificate);
        return (tls.RemoteCertificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(), tls.SslProtocol);
    }

    /// <summary>One HTTP/1.1 keep-alive request on an open connection; returns the body (Content-Length framed).</summary>
    private static async Task<string> RawGetAsync(NetworkStream stream)
    {
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"u8.ToArray());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(read > 0, "the connection was closed");
            received.AddRange(buffer.AsSpan(0, read));
            var text = System.Text.Encoding.ASCII.GetString(received.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }
            Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
            var lengthLine = text[..end].Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (text.Length >= end + 4 + length)
            {
                return text.Substring(end + 4, length);
            }
        }
    }
}
