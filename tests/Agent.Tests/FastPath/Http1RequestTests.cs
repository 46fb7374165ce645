using System.Buffers;
using System.Text;
using LoadBalancer.Agent.FastPath;

namespace LoadBalancer.Agent.Tests.FastPath;

/// <summary>
/// The fast path's request-head parser: what it accepts (and the fields it reads from it), and
/// that every form outside its strict subset, hostile or merely unusual, falls back to Kestrel.
/// A form that is neither accepted nor refused ("needs more bytes") for a complete head is a bug:
/// the connection would hang until the header timeout instead of being answered.
/// </summary>
public sealed class Http1RequestTests
{
    private const string Host = "Host: shop.test\r\n";

    public enum Outcome
    {
        Accepted,
        Fallback,

        /// <summary>FindHeadEnd asked for more bytes although the head was complete.</summary>
        Incomplete,
    }

    [Fact]
    public void Parse_PlainGet_ReadsMethodTargetPathAndHost()
    {
        var request = Accept("GET /shop/cart?id=7&x=%2F HTTP/1.1\r\nHost: shop.test:8080\r\nAccept: */*\r\n\r\n");

        Assert.Equal("GET", Text(request.Method));
        Assert.Equal("/shop/cart?id=7&x=%2F", Text(request.Target));
        Assert.Equal("/shop/cart", Text(request.PathBytes));
        Assert.Equal("shop.test:8080", Text(request.Host));
        Assert.Equal(2, request.HeaderCount);
        Assert.Equal(0, request.ContentLength);
        Assert.False(request.Close);
        Assert.True(request.IsIdempotent);
        Assert.False(request.IsHead);
    }

    [Fact]
    public void Parse_Post_ReadsContentLength_AndIsNotIdempotent()
    {
        var request = Accept("POST /orders HTTP/1.1\r\n" + Host + "Content-Length: 12\r\n\r\n");

        Assert.Equal(12, request.ContentLength);
        Assert.False(request.IsIdempotent);
    }

    [Theory]
    [InlineData("GET", true)]
    [InlineData("HEAD", true)]
    [InlineData("OPTIONS", true)]
    [InlineData("PUT", true)]
    [InlineData("DELETE", true)]
    [InlineData("POST", false)]
    [InlineData("PATCH", false)]
    public void Parse_KnownMethods_AreAccepted_WithTheirIdempotency(string method, bool idempotent)
    {
        var request = Accept($"{method} / HTTP/1.1\r\n{Host}\r\n");

        Assert.Equal(method, Text(request.Method));
        Assert.Equal(idempotent, request.IsIdempotent);
        Assert.Equal(method == "HEAD", request.IsHead);
    }

    [Theory]
    [InlineData("Connection: close\r\n", true)]
    [InlineData("Connection: CLOSE\r\n", true)]
    [InlineData("Connection: keep-alive\r\n", false)]
    [InlineData("Connection: Keep-Alive, close\r\n", true)]
    [InlineData("Connection: keep-alive\r\nConnection: close\r\n", true)]
    public void Parse_ConnectionOptions_SetClose(string header, bool close)
    {
        Assert.Equal(close, Accept("GET / HTTP/1.1\r\n" + Host + header + "\r\n").Close);
    }

    [Fact]
    public void Parse_HeaderValues_AreTrimmedOfOuterWhitespace_AndKeepInnerSpaceAndTab()
    {
        var request = Accept("GET / HTTP/1.1\r\n" + Host + "X-A: \t a \t b \t\r\nX-Empty:\r\nX-B:c\r\n\r\n");

        Assert.Equal("X-A", Text(request.Name(1)));
        Assert.Equal("a \t b", Text(request.Value(1)));
        Assert.Equal("", Text(request.Value(2)));
        Assert.Equal("c", Text(request.Value(3)));
    }

    [Fact]
    public void Parse_ClassifiesTheHeadersItActsOn()
    {
        var request = Accept("POST / HTTP/1.1\r\nhost: shop.test\r\ncontent-length: 0\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Host: evil.test\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic x\r\nConnection: keep-alive\r\nCookie: a=b\r\n\r\n");

        Assert.Equal(
            [RequestHeader.Host, RequestHeader.ContentLength, RequestHeader.XForwardedFor, RequestHeader.Forwarding, RequestHeader.Forwarding,
                RequestHeader.Dropped, RequestHeader.Dropped, RequestHeader.Dropped, RequestHeader.Connection, RequestHeader.Other],
            request.Headers.Take(request.HeaderCount).Select(h => h.Kind));
        Assert.Equal(0, request.HostIndex);
        Assert.Equal(ForwardingSent.Proto | ForwardingSent.Host, request.Forwarded);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/.well-known/acme-challenge/x")]
    [InlineData("/a.b/c..d/...")]
    [InlineData("/a/.b/..c")]
    [InlineData("/a?next=/../b&p=%2e%2e")] // the query is never normalised, by Kestrel either
    [InlineData("/a/b/")]
    [InlineData("//double")]
    public void Parse_Paths_WithoutDotSegmentsOrPercentEncoding_AreAccepted(string target)
    {
        Assert.Equal(target, Text(Accept($"GET {target} HTTP/1.1\r\n{Host}\r\n").Target));
    }

    [Theory]
    [InlineData("shop.test")]
    [InlineData("shop.test:8080")]
    [InlineData("127.0.0.1:80")]
    [InlineData("[::1]:8080")]
    [InlineData("[::1]")]
    [InlineData("SHOP-1.test")]
    public void Parse_HostForms_AreAccepted(string host)
    {
        Assert.Equal(host, Text(Accept($"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").Host));
    }

    [Fact]
    public void Parse_BodyOfExactly64KB_IsAccepted_OneByteMoreFallsBack()
    {
        Assert.Equal(Http1Request.MaxBody, Accept($"POST / HTTP/1.1\r\n{Host}Content-Length: {Http1Request.MaxBody}\r\n\r\n").ContentLength);
        Assert.Equal(Outcome.Fallback, Classify($"POST / HTTP/1.1\r\n{Host}Content-Length: {Http1Request.MaxBody + 1}\r\n\r\n"));
    }

    [Fact]
    public void Parse_100Headers_AreAccepted_101FallBack()
    {
        var hundred = new StringBuilder("GET / HTTP/1.1\r\n" + Host);
        for (var i = 1; i < Http1Request.MaxHeaders; i++)
        {
            hundred.Append($"X-H{i}: {i}\r\n");
        }
        Assert.Equal(Http1Request.MaxHeaders, Accept(hundred + "\r\n").HeaderCount);
        Assert.Equal(Outcome.Fallback, Classify(hundred + "X-One-Too-Many: 1\r\n\r\n"));
    }

    [Fact]
    public void FindHeadEnd_HeadOfExactly16KB_IsAccepted_OneByteMoreFallsBack()
    {
        var prefix = "GET / HTTP/1.1\r\n" + Host + "X-Pad: ";
        var exact = prefix + new string('a', Http1Request.MaxHead - prefix.Length - 4) + "\r\n\r\n";
        Assert.Equal(Http1Request.MaxHead, exact.Length);
        Assert.Equal(Http1Request.MaxHead, Http1Request.FindHeadEnd(Sequence(exact)));
        Accept(exact);

        var over = prefix + new string('a', Http1Request.MaxHead - prefix.Length - 3) + "\r\n\r\n";
        Assert.Equal(-1, Http1Request.FindHeadEnd(Sequence(over)));
        // No end yet but already over the limit: no point waiting for more.
        Assert.Equal(-1, Http1Request.FindHeadEnd(Sequence(prefix + new string('a', Http1Request.MaxHead))));
    }

    [Fact]
    public void Parse_RequestLineOfKestrelsLimit_FallsBack_SoThatKestrelAnswers414()
    {
        var target = "/" + new string('a', Http1Request.MaxRequestLine - "GET / HTTP/1.1\r\n".Length);
        Assert.Equal(Outcome.Fallback, Classify($"GET {target} HTTP/1.1\r\n{Host}\r\n"));
        Assert.Equal(target[..^1], Text(Accept($"GET {target[..^1]} HTTP/1.1\r\n{Host}\r\n").Target));
    }

    [Fact]
    public void FindHeadEnd_PartialHead_AsksForMore()
    {
        Assert.Equal(0, Http1Request.FindHeadEnd(Sequence("")));
        Assert.Equal(0, Http1Request.FindHeadEnd(Sequence("GET / HTTP/1.1\r\nHost: a\r\n")));
        Assert.Equal(0, Http1Request.FindHeadEnd(Sequence("GET / HTTP/1.1\r\nHost: a\r\n\r")));
    }

    [Fact]
    public void FindHeadEnd_HeadSplitOverSegmentsAtEveryByte_IsFoundAtTheSameLength_AndTheBodyIsNotPartOfIt()
    {
        const string head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
        var bytes = Encoding.ASCII.GetBytes(head + "body");
        for (var split = 1; split < bytes.Length; split++)
        {
            var input = Segments(bytes[..split], bytes[split..]);
            Assert.Equal(head.Length, Http1Request.FindHeadEnd(input));
            var request = new Http1Request();
            Assert.Equal(HeadParse.Accepted, request.Parse(input, head.Length));
            Assert.Equal(4, request.ContentLength);
        }
    }

    [Fact]
    public void Parse_OnlyTheFirstHeadIsRead_WhenRequestsArePipelined()
    {
        const string first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
        var input = Sequence(first + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(first.Length, Http1Request.FindHeadEnd(input));
    }

    [Fact]
    public void Parse_ReusedInstance_ForgetsThePreviousRequest()
    {
        var request = new Http1Request();
        Parse(request, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\nX-A: 1\r\n\r\n");
        Assert.Equal(HeadParse.Accepted, Parse(request, "GET /b HTTP/1.1\r\nHost: b\r\n\r\n"));

        Assert.Equal(0, request.ContentLength);
        Assert.False(request.Close);
        Assert.Equal(1, request.HeaderCount);
        Assert.Equal("b", Text(request.Host));
    }

    public static TheoryData<string, string> Hostile => new()
    {
        // Framing: anything but one plain Content-Length is Kestrel's to judge.
        { "CL and TE", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" },
        { "TE and CL", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" },
        { "TE chunked", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked\r\n\r\n" },
        { "TE upper case", "POST / HTTP/1.1\r\n" + Host + "TRANSFER-ENCODING: CHUNKED\r\n\r\n" },
        { "TE xchunked", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding: xchunked\r\n\r\n" },
        { "TE chunked, identity", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding: chunked, identity\r\n\r\n" },
        { "TE identity", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding: identity\r\n\r\n" },
        { "TE tab", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding:\tchunked\r\n\r\n" },
        { "TE space before colon", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding : chunked\r\n\r\n" },
        { "TE folded", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding:\r\n chunked\r\n\r\n" },
        { "TE leading space name", "POST / HTTP/1.1\r\n" + Host + " Transfer-Encoding: chunked\r\n\r\n" },
        { "TE vertical tab", "POST / HTTP/1.1\r\n" + Host + "Transfer-Encoding:\vchunked\r\n\r\n" },
        { "duplicate CL, same", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n" },
        { "duplicate CL, different", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n" },
        { "CL list", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 5, 5\r\n\r\n" },
        { "CL plus", "POST / HTTP/1.1\r\n" + Host + "Content-Length: +5\r\n\r\n" },
        { "CL minus", "POST / HTTP/1.1\r\n" + Host + "Content-Length: -1\r\n\r\n" },
        { "CL hex", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 0x5\r\n\r\n" },
        { "CL inner space", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 1 2\r\n\r\n" },
        { "CL empty", "POST / HTTP/1.1\r\n" + Host + "Content-Length:\r\n\r\n" },
        { "CL overflow", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 99999999999999999999999\r\n\r\n" },
        { "CL exponent", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 1e3\r\n\r\n" },
        { "CL space before colon", "POST / HTTP/1.1\r\n" + Host + "Content-Length : 5\r\n\r\n" },

        // Line structure.
        { "obs-fold", "GET / HTTP/1.1\r\n" + Host + "X-A: a\r\n b\r\n\r\n" },
        { "obs-fold tab", "GET / HTTP/1.1\r\n" + Host + "X-A: a\r\n\tb\r\n\r\n" },
        { "bare LF after request line", "GET / HTTP/1.1\n" + Host + "\r\n" },
        { "bare LF after a header", "GET / HTTP/1.1\r\nX-A: a\n" + Host + "\r\n" },
        { "bare LF empty line, smuggling", "GET / HTTP/1.1\r\n" + Host + "\nGET /smuggled HTTP/1.1\r\n" + Host + "\r\n" },
        { "bare LF everywhere", "GET / HTTP/1.1\nHost: shop.test\n\n" },
        { "bare CR in value", "GET / HTTP/1.1\r\n" + Host + "X-A: a\rb\r\n\r\n" },
        { "bare CR line end", "GET / HTTP/1.1\r\n" + Host + "X-A: a\r\r\n\r\n" },
        { "leading empty line", "\r\nGET / HTTP/1.1\r\n" + Host + "\r\n" },

        // Request line.
        { "absolute-form", "GET http://shop.test/ HTTP/1.1\r\n" + Host + "\r\n" },
        { "asterisk-form", "OPTIONS * HTTP/1.1\r\n" + Host + "\r\n" },
        { "authority-form", "CONNECT shop.test:443 HTTP/1.1\r\n" + Host + "\r\n" },
        { "HTTP/1.0", "GET / HTTP/1.0\r\n" + Host + "\r\n" },
        { "HTTP/2.0", "GET / HTTP/2.0\r\n" + Host + "\r\n" },
        { "lowercase version", "GET / http/1.1\r\n" + Host + "\r\n" },
        { "lowercase method", "get / HTTP/1.1\r\n" + Host + "\r\n" },
        { "unknown method", "PURGE / HTTP/1.1\r\n" + Host + "\r\n" },
        { "TRACE", "TRACE / HTTP/1.1\r\n" + Host + "\r\n" },
        { "two spaces", "GET  / HTTP/1.1\r\n" + Host + "\r\n" },
        { "trailing space", "GET / HTTP/1.1 \r\n" + Host + "\r\n" },
        { "tab separator", "GET\t/ HTTP/1.1\r\n" + Host + "\r\n" },
        { "space in target", "GET /a b HTTP/1.1\r\n" + Host + "\r\n" },
        { "no version", "GET /\r\n" + Host + "\r\n" },
        { "fragment", "GET /a#b HTTP/1.1\r\n" + Host + "\r\n" },
        { "non-ASCII target", "GET /caf\u00e9 HTTP/1.1\r\n" + Host + "\r\n" },
        { "NUL in target", "GET /a\0b HTTP/1.1\r\n" + Host + "\r\n" },
        { "empty target", "GET  HTTP/1.1\r\n" + Host + "\r\n" },

        // Paths Kestrel would decode or normalise before routing.
        { "percent-encoded", "GET /%61dmin HTTP/1.1\r\n" + Host + "\r\n" },
        { "encoded slash", "GET /a%2Fb HTTP/1.1\r\n" + Host + "\r\n" },
        { "encoded dot segment", "GET /a/%2e%2e/b HTTP/1.1\r\n" + Host + "\r\n" },
        { "dot-dot segment", "GET /a/../b HTTP/1.1\r\n" + Host + "\r\n" },
        { "dot segment", "GET /./ HTTP/1.1\r\n" + Host + "\r\n" },
        { "trailing dot-dot", "GET /.. HTTP/1.1\r\n" + Host + "\r\n" },
        { "trailing dot", "GET /a/. HTTP/1.1\r\n" + Host + "\r\n" },
        { "dot-dot before query", "GET /a/..?x=1 HTTP/1.1\r\n" + Host + "\r\n" },
        { "double slash dot-dot", "GET //.. HTTP/1.1\r\n" + Host + "\r\n" },

        // Header names and values.
        { "space in name", "GET / HTTP/1.1\r\n" + Host + "X A: b\r\n\r\n" },
        { "space before colon", "GET / HTTP/1.1\r\n" + Host + "X-A : b\r\n\r\n" },
        { "tab before colon", "GET / HTTP/1.1\r\n" + Host + "X-A\t: b\r\n\r\n" },
        { "parenthesis in name", "GET / HTTP/1.1\r\n" + Host + "X(A): b\r\n\r\n" },
        { "quote in name", "GET / HTTP/1.1\r\n" + Host + "X\"A: b\r\n\r\n" },
        { "slash in name", "GET / HTTP/1.1\r\n" + Host + "X/A: b\r\n\r\n" },
        { "non-ASCII name", "GET / HTTP/1.1\r\n" + Host + "X-\u00c4: b\r\n\r\n" },
        { "empty name", "GET / HTTP/1.1\r\n" + Host + ": b\r\n\r\n" },
        { "no colon", "GET / HTTP/1.1\r\n" + Host + "X-A b\r\n\r\n" },
        { "NUL in value", "GET / HTTP/1.1\r\n" + Host + "X-A: a\0b\r\n\r\n" },
        { "DEL in value", "GET / HTTP/1.1\r\n" + Host + "X-A: a\u007fb\r\n\r\n" },
        { "CTL in value", "GET / HTTP/1.1\r\n" + Host + "X-A: a\u0001b\r\n\r\n" },
        { "ESC in value", "GET / HTTP/1.1\r\n" + Host + "X-A: a\u001bb\r\n\r\n" },
        { "obs-text in value", "GET / HTTP/1.1\r\n" + Host + "X-A: caf\u00e9\r\n\r\n" },
        { "0xFF in value", "GET / HTTP/1.1\r\n" + Host + "X-A: \u00ff\r\n\r\n" },

        // Host.
        { "no Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n" },
        { "two Hosts", "GET / HTTP/1.1\r\n" + Host + "Host: evil.test\r\n\r\n" },
        { "two equal Hosts", "GET / HTTP/1.1\r\n" + Host + Host + "\r\n" },
        { "empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n" },
        { "blank Host", "GET / HTTP/1.1\r\nHost:  \r\n\r\n" },
        { "Host with space", "GET / HTTP/1.1\r\nHost: shop test\r\n\r\n" },
        { "Host with slash", "GET / HTTP/1.1\r\nHost: shop.test/x\r\n\r\n" },
        { "Host with userinfo", "GET / HTTP/1.1\r\nHost: user@shop.test\r\n\r\n" },
        { "Host percent", "GET / HTTP/1.1\r\nHost: shop%2etest\r\n\r\n" },
        { "Host list", "GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n" },
        { "Host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n" },
        { "Host empty port", "GET / HTTP/1.1\r\nHost: shop.test:\r\n\r\n" },
        { "Host non-numeric port", "GET / HTTP/1.1\r\nHost: shop.test:http\r\n\r\n" },
        { "Host two ports", "GET / HTTP/1.1\r\nHost: shop.test:80:81\r\n\r\n" },
        { "Host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n" },
        { "Host bracket in name", "GET / HTTP/1.1\r\nHost: shop]test\r\n\r\n" },

        // Hop-by-hop features that are YARP's (upgrades, 100-continue, trailers).
        { "Connection: upgrade", "GET / HTTP/1.1\r\n" + Host + "Connection: upgrade\r\n\r\n" },
        { "Connection: close, Upgrade", "GET / HTTP/1.1\r\n" + Host + "Connection: close, Upgrade\r\nUpgrade: websocket\r\n\r\n" },
        { "Connection: other header", "GET / HTTP/1.1\r\n" + Host + "Connection: X-Secret\r\nX-Secret: 1\r\n\r\n" },
        { "Connection empty option", "GET / HTTP/1.1\r\n" + Host + "Connection: close,,\r\n\r\n" },
        { "Upgrade", "GET / HTTP/1.1\r\n" + Host + "Upgrade: h2c\r\n\r\n" },
        { "HTTP2-Settings", "GET / HTTP/1.1\r\n" + Host + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n" },
        { "Expect", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n" },
        { "TE", "GET / HTTP/1.1\r\n" + Host + "TE: trailers\r\n\r\n" },
        { "Trailer", "POST / HTTP/1.1\r\n" + Host + "Content-Length: 1\r\nTrailer: X-T\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Parse_FormOutsideTheStrictSubset_FallsBackToKestrel(string name, string head)
    {
        Assert.True(Classify(head) == Outcome.Fallback, $"{name}: {Classify(head)}");
    }

    [Fact]
    public void Classify_ProxyHeaders_AreDropped_UnlessUnknown()
    {
        Assert.Equal(RequestHeader.Dropped, Http1Request.Classify("proxy-connection"u8));
        Assert.Equal(RequestHeader.Dropped, Http1Request.Classify("Proxy-Authorization"u8));
        Assert.Equal(RequestHeader.Other, Http1Request.Classify("Proxy-Other"u8));
        Assert.Equal(RequestHeader.Other, Http1Request.Classify("Proxy-"u8));
        Assert.Null(Http1Request.Classify("te"u8));
        Assert.Null(Http1Request.Classify("transfer-encoding"u8));
    }

    /// <summary>What the fast path does with a complete head: FindHeadEnd then Parse, as FastConnection calls them.</summary>
    private static Outcome Classify(string head)
    {
        var input = Sequence(head);
        var end = Http1Request.FindHeadEnd(input);
        if (end < 0)
        {
            return Outcome.Fallback;
        }
        if (end == 0)
        {
            return Outcome.Incomplete;
        }
        return new Http1Request().Parse(input, end) == HeadParse.Accepted ? Outcome.Accepted : Outcome.Fallback;
    }

    private static Http1Request Accept(string head)
    {
        var request = new Http1Request();
        Assert.Equal(HeadParse.Accepted, Parse(request, head));
        return request;
    }

    private static HeadParse Parse(Http1Request request, string head)
    {
        var input = Sequence(head);
        var end = Http1Request.FindHeadEnd(input);
        Assert.Equal(head.Length, end);
        return request.Parse(input, end);
    }

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>Latin-1, so that "\u00e9" in a test string is the single byte 0xE9 on the wire.</summary>
    private static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.Latin1.GetBytes(text));

    private static ReadOnlySequence<byte> Segments(byte[] first, byte[] second)
    {
        var head = new Segment(first, 0);
        var tail = new Segment(second, first.Length);
        head.SetNext(tail);
        return new ReadOnlySequence<byte>(head, 0, tail, second.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
