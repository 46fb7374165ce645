using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tcp.Epoll;
using LoadBalancer.Agent.Tests.Support;
using LoadBalancer.Testing;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Tcp.ProxyProtocol;

/// <summary>
/// A tcp listener behind another load balancer (PROXY protocol in) and a pool that tells its
/// backends who the client is (PROXY protocol out), with real sockets through an in-process agent
/// relaying on its epoll loops; <see cref="ProxyProtocolSocketsRelayTests"/> runs them on the sockets relay.
/// </summary>
public class ProxyProtocolRelayTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static int _instances;

    private readonly List<TestTcpBackend> _backends = [];

    // Metrics are process-wide: a listener name of its own keeps each test's counts apart.
    private readonly string _listener = $"pp-{Interlocked.Increment(ref _instances)}";
    private InProcessAgent _agent = null!;

    protected virtual TcpRelayKind Relay => TcpRelayKind.Epoll;

    public async Task InitializeAsync() => _agent = await InProcessAgent.StartAsync("data", tcpRelay: Relay);

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    /// <summary>A backend that answers with everything it received, once the client has half-closed.</summary>
    private TestTcpBackend Recorder()
    {
        var backend = TestTcpBackend.Start(async socket =>
        {
            var received = await SocketReads.ReadToEndAsync(socket, Wait);
            await socket.SendAsync(received);
        });
        _backends.Add(backend);
        return backend;
    }

    private async Task<int> ServeAsync(TestTcpBackend backend, string[]? trustedSources, int sendVersion)
    {
        var port = Ports.Free();
        var pool = Pool("db", [Backend("b", backend.Port)], connectTimeout: TimeSpan.FromSeconds(2), protocol: "tcp") with { ProxyProtocol = sendVersion };
        var listener = TestConfigs.Tcp(_listener, port, "db") with
        {
            ProxyProtocolTrustedSources = trustedSources is null ? null : new CidrSet(new EquatableArray<string>(trustedSources)),
        };
        var outcome = (await _agent.ApplyAsync([listener], [pool])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    /// <summary>Sends <paramref name="parts"/> in order, half-closes, and returns what came back.</summary>
    private static async Task<byte[]> ExchangeAsync(int port, params byte[][] parts)
    {
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            foreach (var part in parts)
            {
                await client.SendAsync(part);
            }
            client.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Refused connections may be reset under the client's writes; what came back tells.
        }
        return await SocketReads.ReadToEndAsync(client, Wait);
    }

    [Fact]
    public async Task V1FromATrustedSource_ReachesTheBackendAsV1_WithTheClientsAddress_AndNotTheHeaderItself()
    {
        var port = await ServeAsync(Recorder(), ["127.0.0.0/8"], sendVersion: 1);

        var echoed = await ExchangeAsync(port, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\nSELECT 1;"));

        Assert.Equal("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\nSELECT 1;", Encoding.ASCII.GetString(echoed));
    }

    [Fact]
    public async Task AHeaderInPieces_IsPutTogether_AndV2GoesOut()
    {
        var port = await ServeAsync(Recorder(), ["127.0.0.1/32"], sendVersion: 2);
        var line = Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n");

        // Whether the pieces arrive apart or together, the result is the same.
        var echoed = await ExchangeAsync(port, line[..9], line[9..30], [.. line[30..], .. "ping"u8]);

        byte[] expected = [.. V2Signature, 0x21, 0x11, 0x00, 12, 203, 0, 113, 7, 198, 51, 100, 1, 0x9C, 0x40, 0x15, 0x38, .. "ping"u8];
        Assert.Equal(expected, echoed);
    }

    [Fact]
    public async Task V2In_WithoutSendingOut_PassesOnlyTheClientsBytes()
    {
        var port = await ServeAsync(Recorder(), ["127.0.0.1/32"], sendVersion: 0);
        byte[] header = [.. V2Signature, 0x21, 0x11, 0x00, 12, 203, 0, 113, 7, 198, 51, 100, 1, 0x9C, 0x40, 0x15, 0x38];
        var payload = new byte[200_000];
        Random.Shared.NextBytes(payload);

        var echoed = await ExchangeAsync(port, [.. header, .. payload]);

        Assert.Equal(payload, echoed);
    }

    [Fact]
    public async Task ALocalHeader_LeavesTheConnectionsOwnAddresses()
    {
        var port = await ServeAsync(Recorder(), ["127.0.0.1/32"], sendVersion: 1);

        var echoed = Encoding.ASCII.GetString(await ExchangeAsync(port, [.. V2Signature, 0x20, 0x00, 0x00, 0x00, .. "hi"u8]));

        Assert.Matches(@"^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ " + port + "\r\nhi$", echoed);
    }

    [Fact]
    public async Task AClientNotAmongTheTrustedSources_IsClosed_AndNoBackendIsConnected()
    {
        var backend = Recorder();
        var port = await ServeAsync(backend, ["10.0.0.0/8"], sendVersion: 0);

        var echoed = await ExchangeAsync(port, Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\nping"));

        Assert.Empty(echoed);
        Assert.Equal(0, backend.Accepted);
        Assert.Equal(1, RefusedCount("untrusted"));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 40000\r\nping")]
    public async Task AConnectionWithoutAValidHeader_IsClosed_AndNoBackendIsConnected(string sent)
    {
        var backend = Recorder();
        var port = await ServeAsync(backend, ["127.0.0.1/32"], sendVersion: 0);

        var echoed = await ExchangeAsync(port, Encoding.ASCII.GetBytes(sent));

        Assert.Empty(echoed);
        Assert.Equal(0, backend.Accepted);
        Assert.Equal(1, RefusedCount("invalid"));
    }

    [Fact]
    public async Task AClientThatSendsNoHeader_IsClosedAfterTheTimeout()
    {
        var backend = Recorder();
        var port = await ServeAsync(backend, ["127.0.0.1/32"], sendVersion: 0);
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync("PROXY TCP4 203"u8.ToArray());
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // Closed by the agent, without the client closing anything.
        Assert.Empty(await SocketReads.ReadToEndAsync(client, LoadBalancer.Agent.Tcp.TcpProxyHandler.ProxyHeaderTimeout + Wait));

        Assert.True(watch.Elapsed >= LoadBalancer.Agent.Tcp.TcpProxyHandler.ProxyHeaderTimeout - TimeSpan.FromMilliseconds(200), $"closed after {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(0, backend.Accepted);
        Assert.Equal(1, RefusedCount("timeout"));
    }

    [Fact]
    public async Task WithoutProxyProtocolIn_ThePoolStillSendsTheRealPeer()
    {
        var port = await ServeAsync(Recorder(), trustedSources: null, sendVersion: 1);

        var echoed = Encoding.ASCII.GetString(await ExchangeAsync(port, "PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n"u8.ToArray()));

        // A client's own PROXY line is just bytes here: the header the agent wrote comes first.
        Assert.Matches(@"^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ " + port + "\r\nPROXY TCP4 203\\.0\\.113\\.7", echoed);
    }

    [Fact]
    public async Task Deny_ClosesTheClientsConnection_BeforeABackendIsAsked()
    {
        var backend = Recorder();
        var port = Ports.Free();
        var pool = Pool("db", [Backend("b", backend.Port)], connectTimeout: TimeSpan.FromSeconds(2), protocol: "tcp");
        var listener = TestConfigs.Tcp(_listener, port, "db") with { Deny = CidrSet.Of(["127.0.0.7/32"]) };
        Assert.True((await _agent.ApplyAsync([listener], [pool])).Single().Programmed);

        using (var denied = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            denied.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.7"), 0));
            await denied.ConnectAsync(IPAddress.Loopback, port);
            Assert.Empty(await SocketReads.ReadToEndAsync(denied, Wait));
        }
        Assert.Equal(0, backend.Accepted);
        Assert.Equal(1, _agent.Metrics.ConnectionsDenied.WithLabels(_listener).Value);
        Assert.Equal("ok", Encoding.ASCII.GetString(await ExchangeAsync(port, "ok"u8.ToArray())));
    }

    private double RefusedCount(string reason) =>
        _agent.Metrics.ProxyProtocolRefused.WithLabels(_listener, reason).Value;
}

/// <summary>The same cases on the runtime's sockets (<c>--tcp-relay sockets</c>).</summary>
public sealed class ProxyProtocolSocketsRelayTests : ProxyProtocolRelayTests
{
    protected override TcpRelayKind Relay => TcpRelayKind.Sockets;
}
