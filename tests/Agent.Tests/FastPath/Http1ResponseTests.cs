using System.Text;
using LoadBalancer.Agent.FastPath;

namespace LoadBalancer.Agent.Tests.FastPath;

/// <summary>
/// The backend's response head as the fast path reads it: how the body is framed, whether the
/// connection may carry another request, and which heads are refused (502) rather than passed on
/// to a client that might frame them differently.
/// </summary>
public sealed class Http1ResponseTests
{
    [Fact]
    public void TryParse_ContentLength_FramesByIt_AndIsReusable()
    {
        const string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n";
        var response = Parse(head + "hello");

        Assert.Equal(200, response.Status);
        Assert.Equal(head.Length, response.HeadLength);
        Assert.Equal(BodyFraming.ContentLength, response.Framing);
        Assert.Equal(5, response.ContentLength);
        Assert.True(response.Reusable);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n", 200)]
    [InlineData("HTTP/1.1 200\r\n", 200)]
    [InlineData("HTTP/1.1 200 \r\n", 200)]
    [InlineData("HTTP/1.1 404 Not Found\r\n", 404)]
    [InlineData("HTTP/1.1 599 Whatever it says\r\n", 599)]
    [InlineData("HTTP/1.0 200 OK\r\n", 200)]
    public void TryParse_StatusLineForms_AreRead(string statusLine, int status)
    {
        Assert.Equal(status, Parse(statusLine + "Content-Length: 0\r\n\r\n").Status);
    }

    [Theory]
    [InlineData("HTTP/1.1 20 OK")]
    [InlineData("HTTP/1.1 2000 OK")]
    [InlineData("HTTP/1.1 200OK")]
    [InlineData("HTTP/1.1  200 OK")]
    [InlineData("HTTP/1.1 abc OK")]
    [InlineData("HTTP/1.1 +20 OK")]
    [InlineData("HTTP/1.1 -20 OK")]
    [InlineData("HTTP/1.1 099 Low")]
    [InlineData("HTTP/1.2 200 OK")]
    [InlineData("HTTP/2 200 OK")]
    [InlineData("http/1.1 200 OK")]
    [InlineData("ICY 200 OK")]
    [InlineData("HTTP/1.1")]
    [InlineData("")]
    // A reason phrase is HTAB / SP / VCHAR / obs-text: a bare LF in it would hide a header
    // ("Content-Length: 0") from the agent that a lenient client still reads.
    [InlineData("HTTP/1.1 200 OK\nContent-Length: 0")]
    [InlineData("HTTP/1.1 200 O\rK")]
    [InlineData("HTTP/1.1 200 O\0K")]
    public void TryParse_MalformedStatusLine_Throws(string statusLine)
    {
        Assert.Throws<InvalidDataException>(() => Parse(statusLine + "\r\nContent-Length: 0\r\n\r\n"));
    }

    [Fact]
    public void TryParse_IncompleteHead_AsksForMore()
    {
        Assert.False(Http1Response.TryParse(Bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), headRequest: false, out _));
        Assert.False(Http1Response.TryParse(Bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r"), headRequest: false, out _));
        Assert.False(Http1Response.TryParse([], headRequest: false, out _));
    }

    [Fact]
    public void TryParse_Chunked_FramesByChunks_AndIsReusable()
    {
        var response = Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");

        Assert.Equal(BodyFraming.Chunked, response.Framing);
        Assert.True(response.Reusable);
    }

    [Theory]
    [InlineData("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")]
    public void TryParse_ChunkedAndContentLength_ChunkedWins_AndTheConnectionIsNotReused(string headers)
    {
        var response = Parse("HTTP/1.1 200 OK\r\n" + headers + "\r\n");

        Assert.Equal(BodyFraming.Chunked, response.Framing);
        Assert.False(response.Reusable);
    }

    [Fact]
    public void TryParse_RepeatedEqualContentLength_IsOneLength()
    {
        var response = Parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n");

        Assert.Equal(BodyFraming.ContentLength, response.Framing);
        Assert.Equal(5, response.ContentLength);
    }

    [Theory]
    [InlineData("Content-Length: 5\r\nContent-Length: 6\r\n")]
    [InlineData("Content-Length: 5, 5\r\n")]
    [InlineData("Content-Length: 5,6\r\n")]
    [InlineData("Content-Length: -1\r\n")]
    [InlineData("Content-Length: +5\r\n")]
    [InlineData("Content-Length: 0x5\r\n")]
    [InlineData("Content-Length: 5 5\r\n")]
    [InlineData("Content-Length:\r\n")]
    [InlineData("Content-Length: 99999999999999999999999\r\n")]
    [InlineData("Transfer-Encoding: gzip, chunked\r\n")]
    [InlineData("Transfer-Encoding: chunked, identity\r\n")]
    [InlineData("Transfer-Encoding: identity\r\n")]
    [InlineData("Transfer-Encoding: xchunked\r\n")]
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")]
    // Whitespace before the colon: RFC 9112 5.1 makes a proxy remove it; passed on as it is, a
    // lenient client would frame by a Content-Length the agent never saw.
    [InlineData("Content-Length : 5\r\n")]
    [InlineData("Transfer-Encoding : chunked\r\n")]
    [InlineData("X-A : b\r\n")]
    [InlineData(" X-A: b\r\n")]
    [InlineData("X-A: a\r\n folded\r\n")]
    [InlineData("X-A: a\nContent-Length: 0\r\n")]
    [InlineData("X-A: a\rb\r\n")]
    [InlineData("No colon\r\n")]
    [InlineData(": no name\r\n")]
    public void TryParse_AmbiguousFramingOrMalformedHeader_Throws(string headers)
    {
        Assert.Throws<InvalidDataException>(() => Parse("HTTP/1.1 200 OK\r\n" + headers + "\r\n"));
    }

    [Theory]
    [InlineData(204, false)]
    [InlineData(304, false)]
    [InlineData(100, false)]
    [InlineData(103, false)]
    [InlineData(200, true)]
    public void TryParse_HeadRequestOr204Or304Or1xx_HasNoBody_WhateverTheHeadersSay(int status, bool headRequest)
    {
        var response = Parse($"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n", headRequest);

        Assert.Equal(BodyFraming.None, response.Framing);
        Assert.True(response.Reusable);
        Assert.Equal(BodyFraming.None, Parse($"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n", headRequest).Framing);
    }

    [Fact]
    public void TryParse_NoLength_ReadsUntilClose_AndIsNotReusable()
    {
        var response = Parse("HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n");

        Assert.Equal(BodyFraming.UntilClose, response.Framing);
        Assert.False(response.Reusable);
    }

    [Theory]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: Keep-Alive, CLOSE\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")]
    public void TryParse_Http10OrConnectionClose_IsNotReusable(string head)
    {
        Assert.False(Parse(head).Reusable);
    }

    [Fact]
    public void TryParse_HeadersAreCaseInsensitive()
    {
        var response = Parse("HTTP/1.1 200 OK\r\ncontent-LENGTH: 3\r\nCONNECTION: close\r\n\r\n");

        Assert.Equal(3, response.ContentLength);
        Assert.False(response.Reusable);
    }

    [Theory]
    [InlineData("Connection", true)]
    [InlineData("keep-alive", true)]
    [InlineData("TE", true)]
    [InlineData("Upgrade", true)]
    [InlineData("Proxy-Authenticate", true)]
    [InlineData("Content-Length", false)]
    [InlineData("Transfer-Encoding", false)]
    [InlineData("Set-Cookie", false)]
    public void IsDropped_HopByHopHeaders(string name, bool dropped)
    {
        Assert.Equal(dropped, Http1Response.IsDropped(Encoding.ASCII.GetBytes(name)));
    }

    private static Http1Response Parse(string text, bool headRequest = false)
    {
        Assert.True(Http1Response.TryParse(Bytes(text), headRequest, out var response));
        return response;
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);
}

/// <summary>
/// The chunked-body follower: it must find the exact end of the body however the bytes are split,
/// never consume what follows it, and refuse framing a client could read differently.
/// </summary>
public sealed class ChunkedScannerTests
{
    public static TheoryData<string> ValidBodies => new()
    {
        "0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
        "5;name=value\r\nhello\r\n0;last\r\n\r\n",
        "5;a=\"quoted;\\\"\"\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nX-Trailer: a\r\nX-Other: b\r\n\r\n",
        "000005\r\nhello\r\n0000\r\n\r\n",
        "3\r\n\r\n\r\r\n0\r\n\r\n", // data may contain CR and LF
    };

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Scan_WholeBody_ConsumesExactlyIt_AndIsDone(string body)
    {
        var scanner = default(ChunkedScanner);
        Assert.Equal(body.Length, scanner.Scan(Bytes(body)));
        Assert.True(scanner.Done);
    }

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Scan_SplitAtEveryByteBoundary_FindsTheSameEnd_AndIsDoneOnlyAtIt(string body)
    {
        var bytes = Bytes(body);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var scanner = default(ChunkedScanner);
            var first = scanner.Scan(bytes.AsSpan(0, split));
            Assert.Equal(split, first);
            Assert.Equal(split == bytes.Length, scanner.Done);
            Assert.Equal(bytes.Length - split, scanner.Scan(bytes.AsSpan(split)));
            Assert.True(scanner.Done);
        }
    }

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Scan_OneByteAtATime_FindsTheEnd(string body)
    {
        var scanner = default(ChunkedScanner);
        var bytes = Bytes(body);
        for (var i = 0; i < bytes.Length; i++)
        {
            Assert.False(scanner.Done);
            Assert.Equal(1, scanner.Scan(bytes.AsSpan(i, 1)));
        }
        Assert.True(scanner.Done);
    }

    [Theory]
    [InlineData("5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n")]
    [InlineData("0\r\n\r\n", "0\r\n\r\n")]
    [InlineData("0\r\nX-T: a\r\n\r\n", "garbage")]
    public void Scan_BytesAfterTheEnd_AreNotConsumed(string body, string after)
    {
        var scanner = default(ChunkedScanner);
        Assert.Equal(body.Length, scanner.Scan(Bytes(body + after)));
        Assert.True(scanner.Done);
        // Once done it takes nothing more.
        Assert.Equal(0, scanner.Scan(Bytes(after)));
    }

    [Theory]
    [InlineData("\r\n")] // no digits
    [InlineData(";ext\r\n")]
    [InlineData("g\r\n")]
    [InlineData("0x5\r\n")]
    [InlineData("-5\r\n")]
    [InlineData("+5\r\n")]
    [InlineData(" 5\r\n")]
    [InlineData("5 \r\n")]
    [InlineData("5\n")] // bare LF after the size
    [InlineData("5\rX")] // CR not followed by LF
    [InlineData("5;ext\nhello")] // bare LF after an extension
    [InlineData("1000000000000000\r\n")] // 16 hex digits: past what a long holds safely
    [InlineData("ffffffffffffffffff\r\n")]
    [InlineData("5\r\nhelloX\r\n")] // no CRLF after the data
    [InlineData("5\r\nhello\n0\r\n\r\n")] // bare LF after the data
    [InlineData("5\r\nhello\rX")]
    [InlineData("5\r\nhello world\r\n")] // more data than the size said
    [InlineData("0\r\n\n")] // bare LF for the last CRLF
    [InlineData("0\r\n\r\r")]
    [InlineData("0\r\nX-T: a\n\r\n")] // bare LF in a trailer
    [InlineData("0\r\nX-T: a\rb\r\n\r\n")]
    public void Scan_MalformedFraming_Throws(string body)
    {
        var scanner = default(ChunkedScanner);
        Assert.Throws<InvalidDataException>(() => scanner.Scan(Bytes(body)));
    }

    [Fact]
    public void Scan_LargestAcceptedSize_DoesNotOverflow()
    {
        var scanner = default(ChunkedScanner);
        // 15 hex digits: the scanner expects about 2^60 bytes of data and is not done.
        Assert.Equal(17, scanner.Scan(Bytes("fffffffffffffff\r\n")));
        Assert.False(scanner.Done);
        Assert.Equal(4096, scanner.Scan(new byte[4096]));
        Assert.False(scanner.Done);
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);
}
