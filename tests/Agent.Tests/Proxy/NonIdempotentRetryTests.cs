using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

/// <summary>
/// A non-idempotent request that reached a backend is never sent again, not even by the HTTP
/// client underneath: SocketsHttpHandler resends a body-less request when a reused connection
/// closes gracefully before any response byte (dotnet/runtime#86714).
/// </summary>
public sealed class NonIdempotentRetryTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private InProcessAgent _agent = null!;

    public async Task InitializeAsync() => _agent = await InProcessAgent.StartAsync("edge");

    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Theory]
    [InlineData("POST", "")]
    [InlineData("PATCH", "")]
    // The other case of that issue: the content waits for the backend's 100 Continue.
    [InlineData("POST", "Content-Length: 5\r\nExpect: 100-continue\r\n")]
    public async Task Request_ClosedOnAReusedConnectionBeforeAnswering_ReachesTheBackendOnce(string method, string extraHeaders)
    {
        // Answers a GET (keeping the connection open); reads the request of any other method
        // to its end and then closes gracefully without a byte of answer.
        var received = new List<string>();
        await using var backend = TestTcpBackend.Start(async socket =>
        {
            while (true)
            {
                var head = await ReadHeadAsync(socket);
                if (head is null)
                {
                    return;
                }
                var requestLine = head[..head.IndexOf('\r', StringComparison.Ordinal)];
                lock (received)
                {
                    received.Add(requestLine);
                }
                if (!requestLine.StartsWith("GET ", StringComparison.Ordinal))
                {
                    socket.Shutdown(SocketShutdown.Both);
                    return;
                }
                await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());
            }
        });
        var port = Ports.Free();
        var outcome = (await _agent.ApplyAsync([Http("web", port, Route("app"))], [Pool("app", [Backend("b", backend.Port)], retries: 2)])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);

        // The warm-up must take the same path as the request under test (an Expect request is
        // always left to YARP by the fast path; "TE: trailers" sends a GET there too), so that
        // the same agent-to-backend connection is reused for the next request, written by hand:
        // no Content-Length and no body (HttpClient would add "Content-Length: 0").
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(IPAddress.Loopback, port);
        var warmHeaders = extraHeaders.Contains("Expect", StringComparison.Ordinal) ? "TE: trailers\r\n" : "";
        await raw.SendAsync(Encoding.ASCII.GetBytes($"GET /warm HTTP/1.1\r\nHost: shop.test\r\n{warmHeaders}\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await ReadHeadAsync(raw));
        Assert.Equal("ok", Encoding.ASCII.GetString(await SocketReads.ReadExactlyAsync(raw, 2, Wait)));
        await raw.SendAsync(Encoding.ASCII.GetBytes($"{method} /order HTTP/1.1\r\nHost: shop.test\r\n{extraHeaders}\r\n"));
        if (extraHeaders.Length > 0)
        {
            await raw.SendAsync("hello"u8.ToArray());
        }
        var answer = await ReadHeadAsync(raw);
        if (answer?.StartsWith("HTTP/1.1 100 ", StringComparison.Ordinal) == true)
        {
            // Kestrel's own 100 Continue for the Expect request; the final answer follows.
            answer = await ReadHeadAsync(raw);
        }

        Assert.StartsWith("HTTP/1.1 502", answer);
        lock (received)
        {
            Assert.Equal(["GET /warm HTTP/1.1", $"{method} /order HTTP/1.1"], received);
        }
        Assert.Equal(1, backend.Accepted);
    }

    [Fact]
    public async Task TheRequestsAsAnsweringBackendSeesThem_EmptyBodyDeclared_ExpectAnsweredByTheAgent()
    {
        // Records each request head and its body (Content-Length bytes), answers 200.
        var heads = new List<string>();
        var bodies = new List<string>();
        await using var backend = TestTcpBackend.Start(async socket =>
        {
            while (await ReadHeadAsync(socket) is { } head)
            {
                var length = head.Split("\r\n").Where(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)).Select(h => int.Parse(h[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).SingleOrDefault();
                var body = length > 0 ? await SocketReads.ReadExactlyAsync(socket, length, Wait) : [];
                lock (heads)
                {
                    heads.Add(head);
                    bodies.Add(Encoding.ASCII.GetString(body));
                }
                await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());
            }
        });
        var port = Ports.Free();
        Assert.True((await _agent.ApplyAsync([Http("web", port, Route("app"))], [Pool("app", [Backend("b", backend.Port)])])).Single().Programmed);

        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(IPAddress.Loopback, port);
        // A POST without a body: the backend sees it declared empty.
        await raw.SendAsync("POST /a HTTP/1.1\r\nHost: shop.test\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await ReadHeadAsync(raw));
        Assert.Equal("ok", Encoding.ASCII.GetString(await SocketReads.ReadExactlyAsync(raw, 2, Wait)));
        // Expect: 100-continue: the agent answers it, the body follows, the backend gets it whole
        // (without the Expect, which only concerned the hop to the agent).
        await raw.SendAsync("POST /b HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 100", await ReadHeadAsync(raw));
        await raw.SendAsync("hello"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await ReadHeadAsync(raw));

        lock (heads)
        {
            Assert.Equal(2, heads.Count);
            Assert.Contains("\r\nContent-Length: 0\r\n", heads[0], StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Expect:", heads[1], StringComparison.OrdinalIgnoreCase);
            Assert.Equal(["", "hello"], bodies);
        }
    }

    private static Task<string?> ReadHeadAsync(Socket socket) => SocketReads.ReadHttpHeadAsync(socket, Wait);
}
