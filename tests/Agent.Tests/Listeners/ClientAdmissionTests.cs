using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Listeners;

/// <summary>
/// The PROXY protocol on http and https listeners: the header's client becomes the connection's
/// client (X-Forwarded-For, on the fast path and on YARP's), the bytes after it are the request (or
/// the TLS handshake), and only the trusted sources may send one.
/// </summary>
public class ClientAdmissionTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static int _instances;

    private readonly List<string> _heads = [];
    private readonly string _listener = $"ppa-{Interlocked.Increment(ref _instances)}";
    private InProcessAgent _agent = null!;
    private TestTcpBackend _backend = null!;

    protected virtual bool FastPath => true;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("edge", fastPath: FastPath);
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

    private async Task<int> ListenerAsync(string trusted, bool https = false)
    {
        var port = Ports.Free();
        var accept = new CidrSet(new EquatableArray<string>([trusted]));
        var listener = (https ? Https(_listener, port, ["site"], Route("app")) : Http(_listener, port, Route("app"))) with { ProxyProtocolTrustedSources = accept };
        var certificates = https ? new[] { TestCertificates.Ecdsa("site", "shop.example.com") } : [];
        var outcome = (await _agent.ApplyAsync([listener], [Pool("app", [Backend("b", _backend.Port)])], certificates)).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    private string? TakeForwardedFor()
    {
        lock (_heads)
        {
            var head = Assert.Single(_heads);
            _heads.Clear();
            return head.Split("\r\n").FirstOrDefault(l => l.StartsWith("X-Forwarded-For:", StringComparison.OrdinalIgnoreCase))?[16..].Trim();
        }
    }

    private static async Task<string> SendAsync(Stream stream, string request)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var cts = new CancellationTokenSource(Wait);
        return await reader.ReadToEndAsync(cts.Token);
    }

    [Fact]
    public async Task Http_TheHeadersClient_IsTheOneForwarded_AndTheRequestAfterItIsServed()
    {
        var port = await ListenerAsync("127.0.0.1/32");
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);

        var response = await SendAsync(client.GetStream(),
            "PROXY TCP4 203.0.113.7 198.51.100.1 40000 80\r\nGET /x HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal("203.0.113.7", TakeForwardedFor());
    }

    [Fact]
    public async Task Https_TheHeaderComesBeforeTheHandshake()
    {
        var port = await ListenerAsync("127.0.0.1/32", https: true);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        byte[] v2 = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 12, 203, 0, 113, 8, 198, 51, 100, 1, 0x9C, 0x40, 0x01, 0xBB];
        await client.GetStream().WriteAsync(v2);
        using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "shop.example.com" });

        var response = await SendAsync(tls, "GET / HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal("203.0.113.8", TakeForwardedFor());
    }

    [Fact]
    public async Task AnUntrustedPeer_IsClosed_WithoutAnAnswer()
    {
        var port = await ListenerAsync("10.0.0.0/8");
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);

        string response;
        try
        {
            response = await SendAsync(client.GetStream(), "PROXY TCP4 203.0.113.7 198.51.100.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        catch (IOException)
        {
            response = "";
        }

        Assert.Equal("", response);
        Assert.Empty(_heads);
        Assert.Equal(1, _agent.Metrics.ProxyProtocolRefused.WithLabels(_listener, "untrusted").Value);
    }

    [Fact]
    public async Task ARequestWithoutTheHeader_IsClosed_WithoutReachingTheBackend()
    {
        var port = await ListenerAsync("127.0.0.1/32");
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);

        string response;
        try
        {
            response = await SendAsync(client.GetStream(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }
        catch (IOException)
        {
            response = "";
        }

        Assert.Equal("", response);
        Assert.Empty(_heads);
        Assert.Equal(1, _agent.Metrics.ProxyProtocolRefused.WithLabels(_listener, "invalid").Value);
    }

    private async Task<int> GatedListenerAsync(string[] allow, string[] deny, string? proxyTrusted = null)
    {
        var port = Ports.Free();
        var listener = Http(_listener, port, Route("app")) with
        {
            Allow = CidrSet.Of(allow),
            Deny = CidrSet.Of(deny),
            ProxyProtocolTrustedSources = proxyTrusted is null ? null : new CidrSet(new EquatableArray<string>([proxyTrusted])),
        };
        var outcome = (await _agent.ApplyAsync([listener], [Pool("app", [Backend("b", _backend.Port)])])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    private static async Task<string> GetFromAsync(string from, int port, string prefix = "")
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        await client.ConnectAsync(IPAddress.Loopback, port);
        using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            return await SendAsync(stream, prefix + "GET / HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n");
        }
        catch (IOException)
        {
            return "";
        }
    }

    [Fact]
    public async Task AllowAndDeny_DecideByTheClientsAddress_DenyWinning()
    {
        var port = await GatedListenerAsync(allow: ["127.0.0.0/24"], deny: ["127.0.0.6/32"]);

        Assert.StartsWith("HTTP/1.1 200", await GetFromAsync("127.0.0.5", port), StringComparison.Ordinal);
        Assert.Equal("", await GetFromAsync("127.0.0.6", port));
        Assert.Equal("", await GetFromAsync("127.0.1.5", port));

        lock (_heads)
        {
            Assert.Single(_heads);
        }
        Assert.Equal(2, _agent.Metrics.ConnectionsDenied.WithLabels(_listener).Value);
    }

    [Fact]
    public async Task Deny_AppliesToTheClientNamedByThePROXYHeader()
    {
        var port = await GatedListenerAsync(allow: [], deny: ["203.0.113.0/24"], proxyTrusted: "127.0.0.1/32");

        Assert.Equal("", await GetFromAsync("127.0.0.1", port, "PROXY TCP4 203.0.113.7 198.51.100.1 40000 80\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await GetFromAsync("127.0.0.1", port, "PROXY TCP4 198.51.100.7 198.51.100.1 40000 80\r\n"), StringComparison.Ordinal);
        Assert.Equal("198.51.100.7", TakeForwardedFor());
    }
}

/// <summary>The same through YARP's forwarder (lb-agent --http-fast-path off).</summary>
public sealed class ClientAdmissionYarpTests : ClientAdmissionTests
{
    protected override bool FastPath => false;
}
