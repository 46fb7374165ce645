using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Tests.Support;

namespace LoadBalancer.Agent.Tests.FastPath;

/// <summary>
/// Hostile and malformed requests on a raw client socket, through a real agent with the fast path
/// and through one without it (everything through Kestrel and YARP): the client gets a clear 4xx
/// or the documented normalisation, the two paths agree, and the raw backend behind them never
/// gets an ambiguous message (both Content-Length and Transfer-Encoding, a repeated or listed
/// Content-Length, a coding other than chunked, a request smuggled in a body).
/// </summary>
public sealed class HostileRequestTests(TwoAgents agents) : IClassFixture<TwoAgents>
{
    private const string Host = "Host: shop.test\r\n";
    private const string Smuggled = "GET /smuggled HTTP/1.1\r\n" + Host + "\r\n";
    private const string Sentinel = "GET /sentinel HTTP/1.1\r\n" + Host + "\r\n";

    /// <summary>What the client and the backend saw of one exchange on one connection.</summary>
    internal sealed record Observation(IReadOnlyList<ReceivedResponse> Responses, IReadOnlyList<ReceivedRequest> Backend)
    {
        public IEnumerable<int> Statuses => Responses.Select(r => r.Status);

        public override string ToString() =>
            "client got [" + string.Join(", ", Statuses) + "]; backend got [" + string.Join(" | ", Backend) + "]";
    }

    /// <summary>
    /// Each case: the request bytes, the statuses the client gets in order (the agent closes after
    /// the last), and "METHOD TARGET body" of each complete request the backend gets; the same on both paths.
    /// </summary>
    public static TheoryData<string, string, int[], string[]> Cases => new()
    {
        // Content-Length and Transfer-Encoding together, the chunked body ending early and a
        // second request after it inside the Content-Length: smuggling if one hop reads each.
        // Kestrel frames by the chunks (RFC 9112 6.1), passes the length on only as
        // X-Content-Length, and closes the connection after answering, so the rest is never read.
        {
            "CL+TE smuggling", Body("POST /upload HTTP/1.1\r\n" + Host + "Content-Length: {0}\r\nTransfer-Encoding: chunked\r\n\r\n", "0\r\n\r\n" + Smuggled),
            [200], ["POST /upload "]
        },
        {
            "TE+CL smuggling", Body("POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\nContent-Length: {0}\r\n\r\n", "0\r\n\r\n" + Smuggled),
            [200], ["POST /upload "]
        },
        { "duplicate CL, different", "POST /upload HTTP/1.1\r\n" + Host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", [400], [] },
        { "CL list", "POST /upload HTTP/1.1\r\n" + Host + "Content-Length: 5, 5\r\n\r\nhello", [400], [] },
        { "CL list, different", "POST /upload HTTP/1.1\r\n" + Host + "Content-Length: 5, 30\r\n\r\nhello" + Smuggled, [400], [] },
        { "CL space before colon", "POST /upload HTTP/1.1\r\n" + Host + "Content-Length : 5\r\n\r\nhello", [400], [] },
        { "TE chunked, identity", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "TE xchunked", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "TE identity", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", [400], [] },
        { "TE space before colon", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "TE folded", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "TE vertical tab", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding:\vchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "obs-fold", "GET /a HTTP/1.1\r\n" + Host + "X-A: a\r\n b\r\n\r\n", [400], [] },
        { "bare CR", "GET /a HTTP/1.1\r\n" + Host + "X-A: a\rb\r\n\r\n", [400], [] },
        { "space before colon", "GET /a HTTP/1.1\r\n" + Host + "X-A : b\r\n\r\n", [400], [] },
        { "NUL in value", "GET /a HTTP/1.1\r\n" + Host + "X-A: a\0b\r\n\r\n", [400], [] },
        { "two Hosts", "GET /a HTTP/1.1\r\n" + Host + "Host: evil.test\r\n\r\n", [400], [] },
        { "no Host", "GET /a HTTP/1.1\r\nX-A: b\r\n\r\n", [400], [] },
        { "Host with two ports", "GET /a HTTP/1.1\r\nHost: shop.test:80:81\r\n\r\n", [400], [] },
        { "Host open bracket", "GET /a HTTP/1.1\r\nHost: [::1\r\n\r\n", [400], [] },
        { "invalid chunk size", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "chunk size overflow", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", [400], [] },
        { "no CRLF after chunk", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", [400], [] },
        { "HTTP/1.2", "GET /a HTTP/1.2\r\n" + Host + "\r\n", [505], [] },

        // Normalisations: legitimate forms the fast path leaves to Kestrel and YARP, which pass them on in a plain form.
        { "TE chunked", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [200], ["POST /upload hello"] },
        { "TE chunked with extension and trailer", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", [200], ["POST /upload hello"] },
        { "TE leading space in value", "POST /upload HTTP/1.1\r\n" + Host + "Transfer-Encoding:   chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [200], ["POST /upload hello"] },
        { "TE upper case", "POST /upload HTTP/1.1\r\n" + Host + "TRANSFER-ENCODING: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [200], ["POST /upload hello"] },
        // Kestrel accepts LF alone as a line end (RFC 9112 2.2 allows it).
        { "bare LF inside the head", "GET /a HTTP/1.1\r\nX-A: a\n" + Host + "\r\n", [200], ["GET /a "] },
        // Kestrel takes a method case-insensitively and sends it upper case.
        { "lowercase method", "get /a HTTP/1.1\r\n" + Host + "\r\n", [200], ["GET /a "] },
        // Kestrel reads a signed length; the backend gets it plain.
        { "CL plus sign", "POST /upload HTTP/1.1\r\n" + Host + "Content-Length: +5\r\n\r\nhello", [200], ["POST /upload hello"] },
        { "dot segments", "GET /a/../b/./c HTTP/1.1\r\n" + Host + "\r\n", [200], ["GET /b/c "] },
        { "absolute-form", "GET http://shop.test/a?x=1 HTTP/1.1\r\n" + Host + "\r\n", [200], ["GET /a?x=1 "] },
        { "HTTP/1.0", "GET /a HTTP/1.0\r\n" + Host + "\r\n", [200], ["GET /a "] },
        { "Connection: X-Secret", "GET /a HTTP/1.1\r\n" + Host + "Connection: X-Secret\r\nX-Secret: 1\r\n\r\n", [200], ["GET /a "] },

        // Pipelined: answered in order, each reaching the backend once.
        { "3 GETs in one write", "GET /1 HTTP/1.1\r\n" + Host + "\r\nGET /2 HTTP/1.1\r\n" + Host + "\r\nGET /3 HTTP/1.1\r\n" + Host + "\r\n", [200, 200, 200], ["GET /1 ", "GET /2 ", "GET /3 "] },
        {
            "fast, fallback, fast in one write",
            "POST /1 HTTP/1.1\r\n" + Host + "Content-Length: 2\r\n\r\nabGET /%32 HTTP/1.1\r\n" + Host + "\r\nPOST /3 HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n2\r\ncd\r\n0\r\n\r\nGET /4 HTTP/1.1\r\n" + Host + "\r\n",
            [200, 200, 200, 200], ["POST /1 ab", "GET /2 ", "POST /3 cd", "GET /4 "]
        },
        { "pipelined then hostile", "GET /1 HTTP/1.1\r\n" + Host + "\r\nGET /2 HTTP/1.1\r\n" + Host + "X-A: a\r\n b\r\n\r\nGET /3 HTTP/1.1\r\n" + Host + "\r\n", [200, 400], ["GET /1 "] },
        { "Connection: close stops the pipeline", "GET /1 HTTP/1.1\r\n" + Host + "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\n" + Host + "\r\n", [200], ["GET /1 "] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileOrUnusualRequest_IsAnsweredTheSameOnBothPaths_AndNeverReachesTheBackendAmbiguously(string name, string request, int[] statuses, string[] backend)
    {
        var fast = await ObserveAsync(fastPath: true, request, statuses.Length);
        var yarp = await ObserveAsync(fastPath: false, request, statuses.Length);

        foreach (var (path, observation) in new[] { ("fast path", fast), ("YARP path", yarp) })
        {
            AssertUnambiguous(observation, $"{name}, {path}");
            Assert.True(statuses.SequenceEqual(observation.Statuses), $"{name}, {path}: expected [{string.Join(", ", statuses)}], {observation}");
            var complete = observation.Backend.Where(r => r.Complete).Select(Summary).ToArray();
            Assert.True(backend.SequenceEqual(complete), $"{name}, {path}: expected backend [{string.Join(" | ", backend)}], {observation}");
        }
    }

    // Kestrel accepts "Host:" empty (RFC 9112 3.2 allows it when the target has no authority),
    // and the YARP path used to send two Host fields: the backend's address, added by
    // SocketsHttpHandler, and the client's empty one. The fast path falls back for it; the
    // transformer now drops the empty one.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EmptyHost_IsRefused_OrForwardedWithOneHost(bool fastPath)
    {
        var observation = await ObserveAsync(fastPath, "GET /a HTTP/1.1\r\nHost:\r\n\r\n", 1);

        AssertUnambiguous(observation, "empty Host");
    }

    [Fact]
    public async Task BareLfLineEndings_AreAnsweredPromptly_TheSameOnBothPaths()
    {
        // Without a single CRLF the fast path never sees the end of the head it looks for; it
        // must not wait for the header timeout but leave the request to Kestrel at once.
        const string request = "GET /lf HTTP/1.1\nHost: shop.test\n\n";
        var fast = await ObserveAsync(fastPath: true, request, 1, TimeSpan.FromSeconds(10));
        var yarp = await ObserveAsync(fastPath: false, request, 1, TimeSpan.FromSeconds(10));

        AssertUnambiguous(fast, "fast path");
        Assert.Equal(yarp.Statuses, fast.Statuses);
        Assert.Equal(yarp.Backend.Select(Summary), fast.Backend.Select(Summary));
        Assert.NotEmpty(fast.Statuses);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OversizedRequestLine_Is414_AndNeverForwarded(bool fastPath)
    {
        var observation = await ObserveAsync(fastPath, "GET /" + new string('a', 9 * 1024) + " HTTP/1.1\r\n" + Host + "\r\n", 1);

        Assert.Equal([414], observation.Statuses);
        Assert.Empty(observation.Backend);
    }

    [Theory]
    [InlineData(true, 33 * 1024)]
    [InlineData(false, 33 * 1024)]
    public async Task OversizedHeaders_Are431_AndNeverForwarded(bool fastPath, int size)
    {
        var headers = new StringBuilder();
        for (var i = 0; headers.Length < size; i++)
        {
            headers.Append($"X-Pad-{i}: {new string('p', 1000)}\r\n");
        }
        var observation = await ObserveAsync(fastPath, "GET /big HTTP/1.1\r\n" + Host + headers + "\r\n", 1);

        Assert.Equal([431], observation.Statuses);
        Assert.Empty(observation.Backend);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TooManyHeaders_Are431(bool fastPath)
    {
        var headers = string.Concat(Enumerable.Range(0, 101).Select(i => $"X-H{i}: {i}\r\n"));
        var observation = await ObserveAsync(fastPath, "GET /many HTTP/1.1\r\n" + Host + headers + "\r\n", 1);

        Assert.Equal([431], observation.Statuses);
        Assert.Empty(observation.Backend);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HeadBetween16And32KB_IsForwardedWhole_ByKestrel(bool fastPath)
    {
        var (port, backend) = agents.Path(fastPath);
        backend.Clear();
        var pad = new string('p', 20 * 1024);
        using var client = await RawClient.ConnectAsync(port);
        await client.SendAsync("GET /big HTTP/1.1\r\n" + Host + "X-Pad: " + pad + "\r\n\r\n");

        Assert.Equal(200, (await client.ReadResponseAsync())?.Status);
        Assert.Equal(pad, Assert.Single(backend.Requests).Header("X-Pad"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientClosingMidBody_NeverLetsATruncatedRequestLookComplete(bool fastPath)
    {
        var (port, backend) = agents.Path(fastPath);
        backend.Clear();
        using (var client = await RawClient.ConnectAsync(port))
        {
            await client.SendAsync("POST /cut HTTP/1.1\r\n" + Host + "Content-Length: 10\r\n\r\nhello");
            client.Socket.Shutdown(SocketShutdown.Both);
        }

        // A request on a new connection shows the agent is past the cut one; whatever of that
        // reached the backend must be cut short there too (the backend sees the connection end).
        using (var after = await RawClient.ConnectAsync(port))
        {
            await after.SendAsync("GET /after HTTP/1.1\r\n" + Host + "\r\n");
            Assert.Equal(200, (await after.ReadResponseAsync())?.Status);
        }
        await Eventually.TrueAsync(() => backend.Requests.Any(r => r.RequestLine.StartsWith("GET /after ", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "the request after");
        Assert.DoesNotContain(backend.Requests, r => r.RequestLine.StartsWith("POST /cut ", StringComparison.Ordinal) && r.Complete);
        if (fastPath)
        {
            // The fast path holds a body whole before sending anything.
            Assert.DoesNotContain(backend.Requests, r => r.RequestLine.StartsWith("POST /cut ", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FastAndFallbackRequests_OnOneKeepAliveConnection_AreEachAnsweredAndForwardedOnce(bool fastPath)
    {
        var (port, backend) = agents.Path(fastPath);
        backend.Clear();
        using var client = await RawClient.ConnectAsync(port);
        string[] requests =
        [
            "GET /1 HTTP/1.1\r\n" + Host + "\r\n",
            "POST /2 HTTP/1.1\r\n" + Host + "Content-Length: 3\r\n\r\nabc",
            // Transfer-Encoding: the fast path hands the connection over here.
            "POST /3 HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n3\r\ndef\r\n0\r\n\r\n",
            "GET /4 HTTP/1.1\r\n" + Host + "\r\n",
            "HEAD /5 HTTP/1.1\r\n" + Host + "\r\n",
            "GET /6 HTTP/1.1\r\n" + Host + "Connection: close\r\n\r\n",
        ];
        var bodies = new List<string>();
        foreach (var request in requests)
        {
            await client.SendAsync(request);
            var response = await client.ReadResponseAsync(headRequest: request.StartsWith("HEAD", StringComparison.Ordinal));
            Assert.NotNull(response);
            Assert.Equal(200, response.Status);
            bodies.Add(response.Text);
        }

        Assert.Equal(["GET /1", "POST /2", "POST /3", "GET /4", "", "GET /6"], bodies);
        Assert.True(await client.ClosedAsync());
        Assert.Equal(["GET /1 ", "POST /2 abc", "POST /3 def", "GET /4 ", "HEAD /5 ", "GET /6 "], backend.Requests.Select(Summary));
    }

    private static string Summary(ReceivedRequest request) =>
        request.RequestLine[..request.RequestLine.LastIndexOf(' ')] + " " + Encoding.Latin1.GetString(request.Body);

    /// <summary>The backend got no message a second parser could frame differently, and nothing smuggled.</summary>
    private static void AssertUnambiguous(Observation observation, string because)
    {
        foreach (var request in observation.Backend)
        {
            var lengths = request.Headers.Count(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase));
            var codings = request.Headers.Where(h => h.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)).ToArray();
            Assert.True(lengths <= 1, $"{because}: more than one Content-Length: {request}");
            Assert.True(lengths == 0 || codings.Length == 0, $"{because}: both Content-Length and Transfer-Encoding: {request}");
            Assert.True(codings.Length <= 1 && codings.All(c => c.Value == "chunked"), $"{because}: Transfer-Encoding other than one 'chunked': {request}");
            Assert.True(request.Header("Content-Length") is not { } length || (length.Length > 0 && length.All(char.IsAsciiDigit)), $"{because}: Content-Length not plain digits: {request}");
            Assert.True(request.Headers.Count(h => h.Name.Equals("Host", StringComparison.OrdinalIgnoreCase)) == 1, $"{because}: not exactly one Host: {request}");
            Assert.DoesNotContain("smuggled", request.RequestLine, StringComparison.Ordinal);
            Assert.All(request.Headers, h => Assert.True(h.Name.Length > 0 && !h.Name.Any(c => c is ' ' or '\t' or '\r' or '\n') && !h.Value.Any(c => c is '\r' or '\n' or '\0'), $"{because}: malformed header line: {request}"));
        }
    }

    /// <summary>
    /// Sends the request bytes on a new connection and reads <paramref name="expected"/> answers (or
    /// until the agent closes). If the connection is still open, a sentinel request follows on it:
    /// its answer must come next, so anything the agent made of leftover bytes (a request
    /// smuggled in a body) shows as an extra answer before it, or at the backend.
    /// </summary>
    private async Task<Observation> ObserveAsync(bool fastPath, string request, int expected, TimeSpan? timeout = null)
    {
        var (port, backend) = agents.Path(fastPath);
        backend.Clear();
        var responses = new List<ReceivedResponse>();
        using (var client = await RawClient.ConnectAsync(port, timeout))
        {
            await client.SendAsync(request);
            var head = request.StartsWith("HEAD ", StringComparison.Ordinal);
            while (responses.Count < expected && await client.ReadResponseAsync(head) is { } response)
            {
                responses.Add(response);
            }
            if (responses.Count == expected && responses.LastOrDefault()?.Head.Contains("\r\nConnection: close\r\n", StringComparison.OrdinalIgnoreCase) != true)
            {
                try
                {
                    await client.SendAsync(Sentinel);
                }
                catch (SocketException)
                {
                    // Closed by the agent: nothing more was going to be answered.
                }
                if (await client.ReadResponseAsync() is { } next && next.Text != "GET /sentinel")
                {
                    responses.Add(next);
                }
            }
        }
        return new Observation(responses, [.. backend.Requests.Where(r => !r.RequestLine.StartsWith("GET /sentinel ", StringComparison.Ordinal))]);
    }

    /// <summary>Fills "{0}" in the head with the body's length.</summary>
    private static string Body(string head, string body) => string.Format(System.Globalization.CultureInfo.InvariantCulture, head, body.Length) + body;
}
