using System.Text;

namespace LoadBalancer.Agent.Tests.FastPath;

/// <summary>
/// The same corpus of ordinary and edge-case requests through an agent with the fast path and one
/// without it (Kestrel and YARP): the raw backend must receive the same request from both, the
/// same request line, the same header fields and the same body byte for byte, and the client the
/// same answer.
/// </summary>
/// <remarks>
/// What is allowed to differ, and why:
/// - header order: the fast path writes Host first, then the client's fields in their order, then
///   X-Forwarded-*; YARP writes them in HttpClient's order. Fields are compared as a multiset.
/// - name casing: the fast path copies names as the client wrote them; HttpClient writes the names
///   it knows in their canonical casing. Names are compared case-insensitively (RFC 9110 5.1).
/// - repeated fields: HttpClient joins the values of a repeated field into one line (", "), the
///   fast path copies each line. Values of one name are compared joined with ", ", in order
///   (RFC 9110 5.3 makes the two forms equivalent).
/// Nothing is removed from the comparison: X-Forwarded-For/Proto/Host/Port and X-Real-IP are set
/// by both paths and must agree as well (the port as "the agent's listener port").
/// </remarks>
public sealed class DifferentialTests(TwoAgents agents) : IClassFixture<TwoAgents>
{
    private const string Host = "Host: shop.test\r\n";

    public static TheoryData<string, string> Corpus => new()
    {
        { "plain GET", "GET / HTTP/1.1\r\n" + Host + "\r\n" },
        { "query string", "GET /search?q=a+b&r=%20x&s=%2F..%2F&empty= HTTP/1.1\r\n" + Host + "\r\n" },
        { "dots in query", "GET /a/b.c?next=/../x/./y HTTP/1.1\r\n" + Host + "\r\n" },
        { "repeated header", "GET / HTTP/1.1\r\n" + Host + "X-Multi: a\r\nX-Other: 1\r\nX-Multi: b\r\n\r\n" },
        { "X-Forwarded-For present", "GET / HTTP/1.1\r\n" + Host + "X-Forwarded-For: 10.0.0.1\r\n\r\n" },
        { "X-Forwarded-For list", "GET / HTTP/1.1\r\n" + Host + "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n" },
        { "X-Forwarded-For twice", "GET / HTTP/1.1\r\n" + Host + "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n" },
        { "X-Forwarded-For empty", "GET / HTTP/1.1\r\n" + Host + "X-Forwarded-For:\r\n\r\n" },
        { "X-Forwarded-Proto and Host from the client", "GET / HTTP/1.1\r\n" + Host + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n\r\n" },
        { "cookie", "GET / HTTP/1.1\r\n" + Host + "Cookie: a=1; b=2\r\n\r\n" },
        { "large header", "GET / HTTP/1.1\r\n" + Host + "X-Large: " + new string('v', 8000) + "\r\n\r\n" },
        { "common headers", "GET / HTTP/1.1\r\n" + Host + "User-Agent: test/1.0\r\nAccept: text/html, */*;q=0.8\r\nAccept-Encoding: gzip, br\r\nAccept-Language: en\r\nAuthorization: Bearer abc.def\r\nIf-Modified-Since: Sat, 05 Dec 2026 09:00:00 GMT\r\nCache-Control: no-cache\r\n\r\n" },
        { "lowercase names", "GET / HTTP/1.1\r\nhost: shop.test\r\naccept: */*\r\nx-custom: v\r\n\r\n" },
        { "whitespace around values", "GET / HTTP/1.1\r\n" + Host + "X-A:   spaced  \t\r\nX-B:\ttabbed\r\nX-Empty:\r\n\r\n" },
        { "host with port", "GET / HTTP/1.1\r\nHost: shop.test:8080\r\n\r\n" },
        { "host upper case", "GET / HTTP/1.1\r\nHost: SHOP.Test\r\n\r\n" },
        { "POST empty, declared", "POST /p HTTP/1.1\r\n" + Host + "Content-Length: 0\r\n\r\n" },
        { "POST empty, undeclared", "POST /p HTTP/1.1\r\n" + Host + "\r\n" },
        { "POST 1 byte", "POST /p HTTP/1.1\r\n" + Host + "Content-Type: text/plain\r\nContent-Length: 1\r\n\r\nx" },
        { "POST 64 KB", "POST /p HTTP/1.1\r\n" + Host + "Content-Type: application/octet-stream\r\nContent-Length: 65536\r\n\r\n" + Binary(65536) },
        { "POST leading-zero length", "POST /p HTTP/1.1\r\n" + Host + "Content-Length: 003\r\n\r\nabc" },
        { "PUT with body", "PUT /r HTTP/1.1\r\n" + Host + "Content-Length: 3\r\n\r\nabc" },
        { "PUT empty, undeclared", "PUT /r HTTP/1.1\r\n" + Host + "\r\n" },
        { "PATCH with body", "PATCH /r HTTP/1.1\r\n" + Host + "Content-Length: 3\r\n\r\nabc" },
        { "DELETE", "DELETE /r HTTP/1.1\r\n" + Host + "\r\n" },
        { "DELETE with body", "DELETE /r HTTP/1.1\r\n" + Host + "Content-Length: 2\r\n\r\n{}" },
        { "GET with Content-Length 0", "GET / HTTP/1.1\r\n" + Host + "Content-Length: 0\r\n\r\n" },
        { "HEAD", "HEAD /h HTTP/1.1\r\n" + Host + "\r\n" },
        { "OPTIONS", "OPTIONS /o HTTP/1.1\r\n" + Host + "Origin: https://a.test\r\nAccess-Control-Request-Method: PUT\r\n\r\n" },
        { "Connection: close", "GET / HTTP/1.1\r\n" + Host + "Connection: close\r\n\r\n" },
        { "Connection: keep-alive", "GET / HTTP/1.1\r\n" + Host + "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n" },
        { "proxy hop-by-hop headers", "GET / HTTP/1.1\r\n" + Host + "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Request_ReachesTheBackendTheSame_OnBothPaths(string name, string request)
    {
        var (fastAnswer, fast) = await ExchangeAsync(fastPath: true, request);
        var (yarpAnswer, yarp) = await ExchangeAsync(fastPath: false, request);

        var (fastSent, yarpSent) = (Canonical(fast, agents.FastPort), Canonical(yarp, agents.YarpPort));
        Assert.True(fastSent == yarpSent, $"{name}:\n  fast path sent {fastSent}\n  YARP path sent {yarpSent}");
        Assert.Equal(yarpAnswer, fastAnswer);
    }

    [Fact]
    public async Task KeepAliveSequence_ReachesTheBackendTheSame_OnBothPaths()
    {
        string[] requests =
        [
            "GET /1 HTTP/1.1\r\n" + Host + "\r\n",
            "POST /2 HTTP/1.1\r\n" + Host + "Content-Length: 5\r\n\r\nhello",
            "HEAD /3 HTTP/1.1\r\n" + Host + "\r\n",
            "PUT /4 HTTP/1.1\r\n" + Host + "Content-Length: 0\r\n\r\n",
            "GET /5 HTTP/1.1\r\n" + Host + "Connection: close\r\n\r\n",
        ];
        var seen = new Dictionary<bool, (List<string> Answers, List<string> Requests)>();
        foreach (var fastPath in new[] { true, false })
        {
            var (port, backend) = agents.Path(fastPath);
            backend.Clear();
            var answers = new List<string>();
            using (var client = await RawClient.ConnectAsync(port))
            {
                foreach (var request in requests)
                {
                    await client.SendAsync(request);
                    var response = await client.ReadResponseAsync(request.StartsWith("HEAD", StringComparison.Ordinal));
                    answers.Add(response is null ? "closed" : response.Status + " " + response.Text);
                }
                Assert.True(await client.ClosedAsync());
            }
            seen[fastPath] = (answers, [.. backend.Requests.Select(r => Canonical(r, port))]);
        }

        Assert.Equal(seen[false].Answers, seen[true].Answers);
        Assert.Equal(seen[false].Requests, seen[true].Requests);
        Assert.Equal(requests.Length, seen[true].Requests.Count);
    }

    private async Task<(string Answer, ReceivedRequest Request)> ExchangeAsync(bool fastPath, string request)
    {
        var (port, backend) = agents.Path(fastPath);
        backend.Clear();
        using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync(request);
        var response = await client.ReadResponseAsync(request.StartsWith("HEAD ", StringComparison.Ordinal));
        Assert.NotNull(response);
        return (response.Status + " " + response.Text, Assert.Single(backend.Requests));
    }

    /// <summary>
    /// Request line, fields by lowercase name with their values joined in order, sorted, then the
    /// body. The two agents listen on different ports: X-Forwarded-Port equal to the agent's own
    /// listener port is written as "(listener port)", any other value stays and differs.
    /// </summary>
    private static string Canonical(ReceivedRequest request, int listenerPort)
    {
        var port = listenerPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var fields = request.Headers
            .GroupBy(h => h.Name.ToLowerInvariant())
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Key + ": " + string.Join(", ", g.Select(h => g.Key == "x-forwarded-port" && h.Value == port ? "(listener port)" : h.Value)));
        var body = request.Body.Length <= 64 ? Encoding.Latin1.GetString(request.Body) : $"{request.Body.Length} bytes, sha256 {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(request.Body))}";
        return $"{request.RequestLine} [{string.Join("; ", fields)}] body \"{body}\"" + (request.Complete ? "" : " (incomplete)");
    }

    /// <summary>Every byte value, so that a body copied wrongly anywhere shows.</summary>
    private static string Binary(int length) => string.Create(length, 0, (span, _) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (char)((i * 7 + (i >> 8)) & 0xFF);
        }
    });
}
