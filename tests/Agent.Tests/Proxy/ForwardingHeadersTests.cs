using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

/// <summary>
/// What a backend learns about the client from the forwarding headers: only what the agent saw,
/// unless the peer is one of the listener's trusted proxies. Checked on the raw bytes the backend
/// receives.
/// </summary>
public sealed class ForwardingHeadersTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly List<string> _heads = [];
    private InProcessAgent _agent = null!;
    private TestTcpBackend _backend = null!;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("edge");
        _backend = TestTcpBackend.Start(async socket =>
        {
            var head = await SocketReads.ReadHttpHeadAsync(socket, Wait);
            if (head is null)
            {
                return;
            }
            lock (_heads)
            {
                _heads.Add(head);
            }
            await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray());
            socket.Shutdown(SocketShutdown.Both);
        });
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        await _agent.DisposeAsync();
    }

    /// <summary>A listener on a free port forwarding to the echo backend, trusting these peers.</summary>
    private async Task<int> ListenerAsync(params string[] trustedProxies)
    {
        var port = Ports.Free();
        var listener = Http("web", port, Route("app")) with { TrustedProxies = trustedProxies.ToEquatableArray() };
        var outcome = (await _agent.ApplyAsync([listener], [Pool("app", [Backend("b", _backend.Port)])])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    /// <summary>Sends one raw request and returns the headers the backend received, by name (lowercase).</summary>
    private async Task<ILookup<string, string>> ForwardAsync(int port, string requestHead)
    {
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.SendAsync(Encoding.ASCII.GetBytes(requestHead + "\r\n"));
        var response = Encoding.ASCII.GetString(await SocketReads.ReadToEndAsync(client, Wait));
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        string head;
        lock (_heads)
        {
            head = Assert.Single(_heads);
            _heads.Clear();
        }
        return head.Split("\r\n").Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal))
            .ToLookup(l => l[..l.IndexOf(':', StringComparison.Ordinal)].Trim().ToLowerInvariant(), l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim());
    }

    [Theory]
    [InlineData("X-Forwarded-For: 203.0.113.9", "x-forwarded-for", "127.0.0.1")]
    [InlineData("X-Forwarded-Proto: https", "x-forwarded-proto", "http")]
    [InlineData("X-Forwarded-Host: evil.test", "x-forwarded-host", "shop.test")]
    [InlineData("X-Real-IP: 203.0.113.9", "x-real-ip", "127.0.0.1")]
    [InlineData("Forwarded: for=203.0.113.9;proto=https", "forwarded", null)]
    [InlineData("X-Forwarded-Prefix: /admin", "x-forwarded-prefix", null)]
    [InlineData("X-Forwarded-Ssl: on", "x-forwarded-ssl", null)]
    public async Task UntrustedPeer_ItsForwardingHeader_IsReplacedByWhatTheAgentSaw(string sent, string header, string? expected)
    {
        var port = await ListenerAsync();

        var received = await ForwardAsync(port, $"GET / HTTP/1.1\r\nHost: shop.test\r\n{sent}\r\nConnection: close\r\n");

        Assert.Equal(expected is null ? [] : [expected], received[header]);
    }

    [Fact]
    public async Task UntrustedPeer_ForwardedPort_IsTheListenersPort()
    {
        var port = await ListenerAsync();

        var received = await ForwardAsync(port, "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-Port: 1\r\nConnection: close\r\n");

        Assert.Equal([port.ToString(System.Globalization.CultureInfo.InvariantCulture)], received["x-forwarded-port"]);
    }

    [Fact]
    public async Task UntrustedPeer_Http10WithoutHost_ItsForwardedHostIsDropped()
    {
        var port = await ListenerAsync();

        var received = await ForwardAsync(port, "GET / HTTP/1.0\r\nX-Forwarded-Host: evil.test\r\n");

        Assert.Empty(received["x-forwarded-host"]);
        Assert.Equal(["127.0.0.1"], received["x-forwarded-for"]);
    }

    [Fact]
    public async Task TrustedProxy_ItsAccountStands_AndThisHopIsAppended()
    {
        var port = await ListenerAsync("10.0.0.0/8", "127.0.0.0/8");

        var received = await ForwardAsync(port,
            "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\nConnection: close\r\n");

        Assert.Equal(["203.0.113.9, 127.0.0.1"], received["x-forwarded-for"]);
        Assert.Equal(["https"], received["x-forwarded-proto"]);
        Assert.Equal(["203.0.113.9"], received["x-real-ip"]);
        Assert.Equal(["for=203.0.113.9"], received["forwarded"]);
    }

    [Fact]
    public async Task PeerOutsideTheTrustedRanges_IsNotTrusted()
    {
        var port = await ListenerAsync("10.0.0.0/8");

        var received = await ForwardAsync(port, "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n");

        Assert.Equal(["127.0.0.1"], received["x-forwarded-for"]);
    }
}
