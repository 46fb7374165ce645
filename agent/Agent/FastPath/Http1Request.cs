using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace LoadBalancer.Agent.FastPath;

/// <summary>What the fast path makes of a request head.</summary>
internal enum HeadParse
{
    /// <summary>A request of the strict subset the fast path forwards itself.</summary>
    Accepted,

    /// <summary>Anything else: the connection goes to Kestrel and YARP, which apply RFC 9112 in full.</summary>
    Fallback,
}

/// <summary>Request headers the fast path acts on; everything else is copied as bytes.</summary>
internal enum RequestHeader : byte
{
    Other,
    Host,
    ContentLength,
    Connection,
    XForwardedFor,

    /// <summary>Forwarded, X-Real-IP and every X-Forwarded-* but -For: kept only from trusted proxies.</summary>
    Forwarding,

    /// <summary>Hop-by-hop headers that are dropped, as YARP drops them.</summary>
    Dropped,
}

/// <summary>Forwarding headers a request carried, which a trusted proxy's request keeps.</summary>
[Flags]
internal enum ForwardingSent : byte
{
    None = 0,
    Proto = 1,
    Host = 2,
    Port = 4,
    RealIp = 8,
}

internal struct HeaderField
{
    public int NameStart;
    public int NameLength;
    public int ValueStart;
    public int ValueLength;
    public RequestHeader Kind;
}

/// <summary>
/// One parsed HTTP/1.1 request head, kept as offsets into the connection's head buffer (no
/// strings). Reused for every request of a connection.
/// </summary>
/// <remarks>
/// The parser accepts a strict subset of RFC 9112 and sends everything else to the Kestrel path,
/// so that nothing ambiguous is ever forwarded by it: request-line exactly
/// <c>METHOD SP origin-form SP HTTP/1.1 CRLF</c> with a known method; every line ends in CRLF
/// (a bare CR or LF falls back); no obs-fold; token header names with the colon right after;
/// header values of visible ASCII, space and tab; exactly one Host of plain host[:port] form; at most one Content-Length of
/// digits only; no Transfer-Encoding, Upgrade, Expect or TE; Connection only "close" or
/// "keep-alive"; a path without percent-encoding or dot segments (so that the raw path is the
/// path Kestrel would route on); a body of at most <see cref="MaxBody"/> bytes.
/// </remarks>
internal sealed class Http1Request
{
    /// <summary>Longest head the fast path takes (Kestrel's own limit, 32 KB, applies to the rest).</summary>
    public const int MaxHead = 16 * 1024;

    /// <summary>Largest body the fast path takes: it is held whole so that a retry can resend it.</summary>
    public const int MaxBody = 64 * 1024;

    public const int MaxHeaders = 100;

    /// <summary>Kestrel's MaxRequestLineSize: a longer request line is Kestrel's to refuse.</summary>
    public const int MaxRequestLine = 8 * 1024;

    private static readonly SearchValues<byte> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);
    private static readonly SearchValues<byte> NameChars = SearchValues.Create("-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);
    private static readonly SearchValues<byte> Ipv6Chars = SearchValues.Create(".:0123456789ABCDEFabcdef"u8);

    public readonly byte[] Buffer = new byte[MaxHead];
    public readonly HeaderField[] Headers = new HeaderField[MaxHeaders];

    public int HeadLength;
    public int HeaderCount;
    public int MethodLength;
    public int TargetStart;
    public int TargetLength;

    /// <summary>The path part of the target (before '?').</summary>
    public int PathLength;
    public int HostIndex;
    public long ContentLength;
    public bool Close;

    /// <summary>Which of the headers the agent sets when absent were sent (see <see cref="ForwardingSent"/>).</summary>
    public ForwardingSent Forwarded;

    public ReadOnlySpan<byte> Method => Buffer.AsSpan(0, MethodLength);

    public ReadOnlySpan<byte> Target => Buffer.AsSpan(TargetStart, TargetLength);

    public ReadOnlySpan<byte> PathBytes => Buffer.AsSpan(TargetStart, PathLength);

    public ReadOnlySpan<byte> Host => Value(HostIndex);

    public ReadOnlySpan<byte> Name(int index) => Buffer.AsSpan(Headers[index].NameStart, Headers[index].NameLength);

    public ReadOnlySpan<byte> Value(int index) => Buffer.AsSpan(Headers[index].ValueStart, Headers[index].ValueLength);

    /// <summary>The byte form of <see cref="Pools.RetryRule.IsIdempotent"/>.</summary>
    public bool IsIdempotent
    {
        get
        {
            var m = Method;
            return m.SequenceEqual("GET"u8) || m.SequenceEqual("HEAD"u8) || m.SequenceEqual("OPTIONS"u8)
                || m.SequenceEqual("PUT"u8) || m.SequenceEqual("DELETE"u8);
        }
    }

    public bool IsHead => Method.SequenceEqual("HEAD"u8);

    /// <summary>
    /// True for the methods HttpClient sends "Content-Length: 0" with when they carry no body (all
    /// but GET, HEAD, OPTIONS and DELETE), so that both paths send a body-less request alike.
    /// </summary>
    public bool DeclaresEmptyBody
    {
        get
        {
            var m = Method;
            return !(m.SequenceEqual("GET"u8) || m.SequenceEqual("HEAD"u8) || m.SequenceEqual("OPTIONS"u8) || m.SequenceEqual("DELETE"u8));
        }
    }

    /// <summary>
    /// Finds the end of a head in <paramref name="input"/>: the length up to and including the
    /// empty line, 0 when more bytes are needed, -1 when no head ends within <see cref="MaxHead"/>.
    /// </summary>
    public static int FindHeadEnd(in ReadOnlySequence<byte> input)
    {
        var reader = new SequenceReader<byte>(input);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            // A bare LF means the head may end in a way this search never finds ("\n\n"): Kestrel
            // answers it now instead of the connection waiting for the header timeout.
            return input.Length >= MaxHead || HasBareLf(input) ? -1 : 0;
        }
        return reader.Consumed <= MaxHead ? (int)reader.Consumed : -1;
    }

    private static bool HasBareLf(in ReadOnlySequence<byte> input)
    {
        var previous = (byte)0;
        foreach (var memory in input)
        {
            var span = memory.Span;
            var at = span.IndexOf((byte)'\n');
            while (at >= 0)
            {
                if ((at > 0 ? span[at - 1] : previous) != '\r')
                {
                    return true;
                }
                var next = span[(at + 1)..].IndexOf((byte)'\n');
                at = next < 0 ? -1 : at + 1 + next;
            }
            if (!span.IsEmpty)
            {
                previous = span[^1];
            }
        }
        return false;
    }

    /// <summary>Copies the head of <paramref name="length"/> bytes into the buffer and parses it.</summary>
    public HeadParse Parse(in ReadOnlySequence<byte> input, int length)
    {
        input.Slice(0, length).CopyTo(Buffer);
        HeadLength = length;
        return Parse();
    }

    internal HeadParse Parse()
    {
        var head = Buffer.AsSpan(0, HeadLength);
        HeaderCount = 0;
        HostIndex = -1;
        ContentLength = 0;
        Close = false;
        Forwarded = ForwardingSent.None;

        // Request line.
        var lineEnd = head.IndexOf((byte)'\n');
        if (lineEnd < 1 || head[lineEnd - 1] != '\r')
        {
            return HeadParse.Fallback;
        }
        if (lineEnd + 1 >= MaxRequestLine)
        {
            // Kestrel answers a request line over its limit with 414.
            return HeadParse.Fallback;
        }
        var line = head[..(lineEnd - 1)];
        var sp = line.IndexOf((byte)' ');
        if (sp <= 0 || !IsKnownMethod(line[..sp]))
        {
            return HeadParse.Fallback;
        }
        MethodLength = sp;
        var rest = line[(sp + 1)..];
        sp = rest.IndexOf((byte)' ');
        if (sp <= 0 || !rest[(sp + 1)..].SequenceEqual("HTTP/1.1"u8))
        {
            return HeadParse.Fallback;
        }
        TargetStart = MethodLength + 1;
        TargetLength = sp;
        if (!CheckTarget(rest[..sp], out PathLength))
        {
            return HeadParse.Fallback;
        }

        // Header fields, each "name: value" CRLF, then the empty line.
        var pos = lineEnd + 1;
        var sawContentLength = false;
        while (true)
        {
            var remaining = head[pos..];
            var nl = remaining.IndexOf((byte)'\n');
            if (nl < 1 || remaining[nl - 1] != '\r')
            {
                return HeadParse.Fallback;
            }
            if (nl == 1)
            {
                // The empty line: it must be the end of the head.
                return pos + 2 == HeadLength && HostIndex >= 0 ? HeadParse.Accepted : HeadParse.Fallback;
            }
            var field = remaining[..(nl - 1)];
            var colon = field.IndexOf((byte)':');
            if (colon <= 0 || field[..colon].IndexOfAnyExcept(TokenChars) >= 0 || HeaderCount == MaxHeaders)
            {
                // Also obs-fold (a line starting with a space) and whitespace before the colon.
                return HeadParse.Fallback;
            }
            var valueStart = colon + 1;
            var valueEnd = field.Length;
            while (valueStart < valueEnd && field[valueStart] is (byte)' ' or (byte)'\t')
            {
                valueStart++;
            }
            while (valueEnd > valueStart && field[valueEnd - 1] is (byte)' ' or (byte)'\t')
            {
                valueEnd--;
            }
            var value = field[valueStart..valueEnd];
            foreach (var b in value)
            {
                if ((b < 0x20 && b != '\t') || b >= 0x7F)
                {
                    return HeadParse.Fallback;
                }
            }

            var name = field[..colon];
            var kind = Classify(name);
            switch (kind)
            {
                case null:
                    return HeadParse.Fallback;
                case RequestHeader.Host:
                    if (HostIndex >= 0 || !IsHost(value))
                    {
                        return HeadParse.Fallback;
                    }
                    HostIndex = HeaderCount;
                    break;
                case RequestHeader.ContentLength:
                    if (sawContentLength || value.IsEmpty || value.Length > 18 || value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0
                        || !Utf8Parser.TryParse(value, out long contentLength, out _) || contentLength > MaxBody)
                    {
                        return HeadParse.Fallback;
                    }
                    sawContentLength = true;
                    ContentLength = contentLength;
                    break;
                case RequestHeader.Connection:
                    if (!ParseConnection(value))
                    {
                        return HeadParse.Fallback;
                    }
                    break;
                case RequestHeader.Forwarding:
                    Forwarded |= Ascii.EqualsIgnoreCase(name, "X-Forwarded-Proto"u8) ? ForwardingSent.Proto
                        : Ascii.EqualsIgnoreCase(name, "X-Forwarded-Host"u8) ? ForwardingSent.Host
                        : Ascii.EqualsIgnoreCase(name, "X-Forwarded-Port"u8) ? ForwardingSent.Port
                        : Ascii.EqualsIgnoreCase(name, "X-Real-IP"u8) ? ForwardingSent.RealIp
                        : ForwardingSent.None;
                    break;
            }
            Headers[HeaderCount++] = new HeaderField
            {
                NameStart = pos,
                NameLength = colon,
                ValueStart = pos + valueStart,
                ValueLength = valueEnd - valueStart,
                Kind = kind.Value,
            };
            pos += nl + 1;
        }
    }

    /// <summary>
    /// uri-host [":" port] in its plain forms, a name or IPv4 address or a bracketed IPv6 one;
    /// anything else (an empty or non-numeric port, a second colon, an unclosed bracket) is left
    /// to Kestrel, which refuses what is invalid rather than have a backend read it its own way.
    /// </summary>
    private static bool IsHost(ReadOnlySpan<byte> value)
    {
        int hostEnd;
        if (!value.IsEmpty && value[0] == '[')
        {
            var close = value.IndexOf((byte)']');
            if (close < 2 || value[1..close].IndexOfAnyExcept(Ipv6Chars) >= 0)
            {
                return false;
            }
            hostEnd = close + 1;
        }
        else
        {
            hostEnd = value.IndexOfAnyExcept(NameChars);
            hostEnd = hostEnd < 0 ? value.Length : hostEnd;
            if (hostEnd == 0)
            {
                return false;
            }
        }
        var port = value[hostEnd..];
        return port.IsEmpty
            || (port[0] == ':' && port.Length is >= 2 and <= 6 && port[1..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0);
    }

    private bool ParseConnection(ReadOnlySpan<byte> value)
    {
        foreach (var range in value.Split((byte)','))
        {
            var option = value[range].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(option, "close"u8))
            {
                Close = true;
            }
            else if (!Ascii.EqualsIgnoreCase(option, "keep-alive"u8))
            {
                // Other options name more hop-by-hop headers (or ask for an upgrade): YARP's path.
                return false;
            }
        }
        return true;
    }

    private static bool IsKnownMethod(ReadOnlySpan<byte> method) =>
        method.SequenceEqual("GET"u8) || method.SequenceEqual("POST"u8) || method.SequenceEqual("HEAD"u8)
        || method.SequenceEqual("PUT"u8) || method.SequenceEqual("DELETE"u8) || method.SequenceEqual("PATCH"u8)
        || method.SequenceEqual("OPTIONS"u8);

    /// <summary>
    /// Origin-form only, visible ASCII, no fragment; the path (before '?') without '%' or dot
    /// segments, which Kestrel would decode or remove before routing.
    /// </summary>
    private static bool CheckTarget(ReadOnlySpan<byte> target, out int pathLength)
    {
        pathLength = 0;
        if (target.IsEmpty || target[0] != '/' || target.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0 || target.Contains((byte)'#'))
        {
            return false;
        }
        var query = target.IndexOf((byte)'?');
        var path = query < 0 ? target : target[..query];
        if (path.Contains((byte)'%'))
        {
            return false;
        }
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] != '/' || i + 1 >= path.Length || path[i + 1] != '.')
            {
                continue;
            }
            var after = path[(i + 2)..];
            if (after.IsEmpty || after[0] == '/' || (after[0] == '.' && (after.Length == 1 || after[1] == '/')))
            {
                return false;
            }
        }
        pathLength = path.Length;
        return true;
    }

    /// <summary>The kind of a header name; null for one that sends the request to the Kestrel path.</summary>
    internal static RequestHeader? Classify(ReadOnlySpan<byte> name)
    {
        switch (name.Length)
        {
            case 2 when Ascii.EqualsIgnoreCase(name, "TE"u8):
                return null;
            case 4 when Ascii.EqualsIgnoreCase(name, "Host"u8):
                return RequestHeader.Host;
            case 4 when Ascii.EqualsIgnoreCase(name, "ALPN"u8):
            case 5 when Ascii.EqualsIgnoreCase(name, "Close"u8):
            case 7 when Ascii.EqualsIgnoreCase(name, "Alt-Svc"u8):
            case 10 when Ascii.EqualsIgnoreCase(name, "Keep-Alive"u8):
            case 15 when Ascii.EqualsIgnoreCase(name, "Security-Scheme"u8):
                return RequestHeader.Dropped;
            case 6 when Ascii.EqualsIgnoreCase(name, "Expect"u8):
            case 7 when Ascii.EqualsIgnoreCase(name, "Upgrade"u8):
            case 7 when Ascii.EqualsIgnoreCase(name, "Trailer"u8):
            case 17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8):
            case 14 when Ascii.EqualsIgnoreCase(name, "HTTP2-Settings"u8):
                return null;
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                return RequestHeader.Connection;
            case 14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8):
                return RequestHeader.ContentLength;
            case 15 when Ascii.EqualsIgnoreCase(name, "X-Forwarded-For"u8):
                return RequestHeader.XForwardedFor;
            case 9 when Ascii.EqualsIgnoreCase(name, "Forwarded"u8):
            case 9 when Ascii.EqualsIgnoreCase(name, "X-Real-IP"u8):
                return RequestHeader.Forwarding;
        }
        if (name.Length > 12 && Ascii.EqualsIgnoreCase(name[..12], "X-Forwarded-"u8))
        {
            return RequestHeader.Forwarding;
        }
        if (name.Length > 6 && Ascii.EqualsIgnoreCase(name[..6], "Proxy-"u8))
        {
            // Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, ...: YARP drops them all
            // except ones it does not list, which are rare enough to leave to it.
            var suffix = name[6..];
            if (Ascii.EqualsIgnoreCase(suffix, "Connection"u8) || Ascii.EqualsIgnoreCase(suffix, "Authenticate"u8)
                || Ascii.EqualsIgnoreCase(suffix, "Authentication-Info"u8) || Ascii.EqualsIgnoreCase(suffix, "Authorization"u8)
                || Ascii.EqualsIgnoreCase(suffix, "Features"u8) || Ascii.EqualsIgnoreCase(suffix, "Instruction"u8))
            {
                return RequestHeader.Dropped;
            }
        }
        return RequestHeader.Other;
    }
}
