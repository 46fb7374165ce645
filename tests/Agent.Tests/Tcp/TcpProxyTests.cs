using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tcp.Epoll;
using LoadBalancer.Agent.Tests.Support;
using LoadBalancer.Testing;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Tcp;

/// <summary>
/// The L4 path with real sockets: an in-process agent between a test client and test TCP servers,
/// relaying on the agent's own epoll loops (the default).
/// </summary>
public class TcpProxyTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly List<TestTcpBackend> _backends = [];
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

    private TestTcpBackend Keep(TestTcpBackend backend)
    {
        _backends.Add(backend);
        return backend;
    }

    private async Task<int> ServeAsync(PoolConfig pool)
    {
        var port = Ports.Free();
        var outcome = (await _agent.ApplyAsync([TestConfigs.Tcp("db", port, pool.Name)], [pool])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    private static PoolConfig TcpPool(BackendConfig[] backends, PassiveHealthConfig? passive = null) =>
        Pool("db", backends, passive: passive, connectTimeout: TimeSpan.FromSeconds(2), protocol: "tcp");

    [Fact]
    public async Task ClientHalfClose_IsPassedOn_AndTheBackendsAnswerStillArrives()
    {
        // Answers only once the client has finished sending (reads to end of stream first).
        var backend = Keep(TestTcpBackend.Start(async socket =>
        {
            var total = (await SocketReads.ReadToEndAsync(socket, Wait)).Length;
            await socket.SendAsync(Encoding.ASCII.GetBytes($"got {total}\n"));
        }));
        var port = await ServeAsync(TcpPool([Backend("b", backend.Port)]));
        using var client = await ConnectAsync(port);

        await client.SendAsync(new byte[100_000]);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("got 100000\n", Encoding.ASCII.GetString(await SocketReads.ReadToEndAsync(client, Wait)));
    }

    [Fact]
    public async Task ClientThatHalfClosesWhileTheBackendConnectIsPending_StillGetsItsAnswer()
    {
        // Kestrel reports a client's FIN as ConnectionClosed. A one-shot client (nc -N) sends and
        // half-closes at once; its FIN arriving while the agent still connects (here: to a port
        // that drops SYNs, then retrying the other backend) must not be taken as the client leaving.
        using var blackHole = SynBlackHole.Start();
        var backend = Keep(TestTcpBackend.Start(async socket =>
        {
            var total = (await SocketReads.ReadToEndAsync(socket, Wait)).Length;
            await socket.SendAsync(Encoding.ASCII.GetBytes($"got {total}\n"));
        }));
        var port = await ServeAsync(Pool(
            "db",
            [Backend("hole", blackHole.Port), Backend("b", backend.Port)],
            retries: 1,
            connectTimeout: TimeSpan.FromMilliseconds(300),
            protocol: "tcp"));

        // Round-robin: of two connections in a row, one is first sent to the black hole.
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 2; i++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            using var client = await ConnectAsync(port);
            await client.SendAsync("ping"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.Equal("got 4\n", Encoding.ASCII.GetString(await SocketReads.ReadToEndAsync(client, Wait)));
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
        }
        Assert.True(slowest >= TimeSpan.FromMilliseconds(250), $"no connection waited on the black hole (slowest {slowest.TotalMilliseconds:0} ms)");
    }

    [Fact]
    public async Task BackendHalfClose_IsPassedOn_AndTheClientCanStillWrite()
    {
        var backendReceived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = Keep(TestTcpBackend.Start(async socket =>
        {
            await socket.SendAsync("bye\n"u8.ToArray());
            socket.Shutdown(SocketShutdown.Send);
            backendReceived.TrySetResult(Encoding.ASCII.GetString(await SocketReads.ReadToEndAsync(socket, Wait)));
        }));
        var port = await ServeAsync(TcpPool([Backend("b", backend.Port)]));
        using var client = await ConnectAsync(port);

        // The backend's FIN reaches the client as end of stream...
        Assert.Equal("bye\n", Encoding.ASCII.GetString(await SocketReads.ReadToEndAsync(client, Wait)));
        // ...while the client's direction stays open: what it writes next still arrives.
        await client.SendAsync("written after the backend's FIN"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("written after the backend's FIN", await backendReceived.Task.WaitAsync(Wait));
    }

    [Fact]
    public async Task OpenConnection_SurvivesPoolEdits_AndKeepsPassingBytes()
    {
        var a = Keep(TestTcpBackend.Greeter("a"));
        var b = Keep(TestTcpBackend.Greeter("b"));
        var port = await ServeAsync(TcpPool([Backend("a", a.Port)]));
        using var open = await ConnectAsync(port);
        Assert.Equal("a\n", await ReadLineAsync(open));
        Assert.Equal("ping\n", await EchoAsync(open, "ping\n"));

        // A weight change of its backend, then a new backend next to it.
        await _agent.ApplyAsync([TestConfigs.Tcp("db", port, "db")], [TcpPool([Backend("a", a.Port, weight: 5)])]);
        Assert.Equal("pong\n", await EchoAsync(open, "pong\n"));
        await _agent.ApplyAsync([TestConfigs.Tcp("db", port, "db")], [TcpPool([Backend("a", a.Port, weight: 5), Backend("b", b.Port)])]);
        Assert.Equal("still here\n", await EchoAsync(open, "still here\n"));
        Assert.Equal(1, a.Accepted);

        // The edit did take effect: new connections reach the new backend too.
        var greetings = new List<string>();
        for (var i = 0; i < 12 && !greetings.Contains("b\n"); i++)
        {
            using var probe = await ConnectAsync(port);
            greetings.Add(await ReadLineAsync(probe));
        }
        Assert.Contains("b\n", greetings);
        Assert.Equal("last\n", await EchoAsync(open, "last\n"));
    }

    [Fact]
    public async Task PassiveConnectFailures_EjectTheDeadBackend_NewConnectionsAllGoToTheLiveOne()
    {
        var live = Keep(TestTcpBackend.Greeter("live"));
        using var dead = Ports.Refusing();
        // No active check and no retries: only connect failures can eject, and each is seen by a client.
        var port = await ServeAsync(TcpPool([Backend("dead", dead.Port), Backend("live", live.Port)], new PassiveHealthConfig(2, TimeSpan.FromMinutes(5))));

        var greetings = new List<string>();
        for (var i = 0; i < 14; i++)
        {
            using var client = await ConnectAsync(port);
            greetings.Add(await ReadLineAsync(client));
        }

        // Refused connections get no greeting: exactly consecutiveFailures of them, then only the live backend.
        var lastFailure = greetings.LastIndexOf("");
        Assert.True(greetings.Count(g => g == "") == 2, "greetings: " + string.Join(",", greetings.Select(g => g.Trim())));
        Assert.All(greetings.Skip(lastFailure + 1), g => Assert.Equal("live\n", g));
        Assert.True(greetings.Count - lastFailure - 1 >= 10, "greetings: " + string.Join(",", greetings.Select(g => g.Trim())));
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>One line including its newline; empty when the connection closed (or was reset) first.</summary>
    private static async Task<string> ReadLineAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(Wait);
        var line = new StringBuilder();
        var one = new byte[1];
        try
        {
            while (await socket.ReceiveAsync(one, SocketFlags.None, cts.Token) == 1)
            {
                line.Append((char)one[0]);
                if (one[0] == '\n')
                {
                    return line.ToString();
                }
            }
        }
        catch (SocketException)
        {
            // Reset before a full line.
        }
        return "";
    }

    private static async Task<string> EchoAsync(Socket socket, string text)
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(text));
        return await ReadLineAsync(socket);
    }
}

/// <summary>The same cases with lb-agent --tcp-relay sockets (the runtime's sockets, and the path on other systems).</summary>
public sealed class TcpProxySocketsTests : TcpProxyTests
{
    protected override TcpRelayKind Relay => TcpRelayKind.Sockets;
}
