using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace LoadBalancer.Agent.FastPath;

/// <summary>How the body of a backend's response is delimited.</summary>
internal enum BodyFraming
{
    None,
    ContentLength,
    Chunked,

    /// <summary>Until the backend closes (HTTP/1.0 style); the client connection then closes too.</summary>
    UntilClose,
}

/// <summary>
/// A backend's response head: the status line and header offsets in the backend connection's
/// buffer, the framing of the body, and whether the connection may be reused.
/// </summary>
internal struct Http1Response
{
    public int Status;
    public int HeadLength;
    public BodyFraming Framing;
    public long ContentLength;
    public bool Reusable;

    /// <summary>
    /// Parses the head at the start of <paramref name="buffer"/>. Returns false when more bytes
    /// are needed; throws <see cref="InvalidDataException"/> for a head the agent will not pass on.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, bool headRequest, out Http1Response response)
    {
        response = default;
        var end = buffer.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return false;
        }
        var head = buffer[..(end + 4)];
        var lineEnd = head.IndexOf("\r\n"u8);
        var line = head[..lineEnd];
        // "HTTP/1.x SP 3DIGIT [SP reason]"
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || line[7] is not ((byte)'0' or (byte)'1') || line[8] != ' '
            || (line.Length > 12 && line[12] != ' ') || !Utf8Parser.TryParse(line.Slice(9, 3), out int status, out var consumed) || consumed != 3 || status < 100)
        {
            throw new InvalidDataException("malformed status line from the backend");
        }
        if (line.Length > 13 && !IsFieldText(line[13..]))
        {
            // A CR, LF or other control byte in the reason phrase: a client could read a header in it.
            throw new InvalidDataException("malformed status line from the backend");
        }
        response.Status = status;
        response.HeadLength = head.Length;
        response.Reusable = line[7] == '1';
        var contentLength = -1L;
        var chunked = false;

        var pos = lineEnd + 2;
        while (pos < head.Length - 2)
        {
            var rest = head[pos..];
            var nl = rest.IndexOf("\r\n"u8);
            var field = rest[..nl];
            if (field.IndexOfAny((byte)'\r', (byte)'\n') >= 0 || field.IsEmpty || field[0] is (byte)' ' or (byte)'\t')
            {
                throw new InvalidDataException("malformed header line from the backend");
            }
            var colon = field.IndexOf((byte)':');
            if (colon <= 0 || field[..colon].IndexOfAnyExcept(TokenChars) >= 0)
            {
                // Also whitespace before the colon (RFC 9112 5.1), which a lenient client might
                // ignore and so frame by a Content-Length the agent did not see.
                throw new InvalidDataException("malformed header line from the backend");
            }
            var name = field[..colon];
            var value = field[(colon + 1)..].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (value.IsEmpty || value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0
                    || !Utf8Parser.TryParse(value, out long length, out var used) || used != value.Length
                    || (contentLength >= 0 && contentLength != length))
                {
                    throw new InvalidDataException("invalid Content-Length from the backend");
                }
                contentLength = length;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                if (!Ascii.EqualsIgnoreCase(value, "chunked"u8) || chunked)
                {
                    throw new InvalidDataException("unsupported Transfer-Encoding from the backend");
                }
                chunked = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                foreach (var range in value.Split((byte)','))
                {
                    if (Ascii.EqualsIgnoreCase(value[range].Trim(" \t"u8), "close"u8))
                    {
                        response.Reusable = false;
                    }
                }
            }
            pos += nl + 2;
        }

        if (headRequest || status is < 200 or 204 or 304)
        {
            response.Framing = BodyFraming.None;
        }
        else if (chunked)
        {
            // With both, Transfer-Encoding wins (RFC 9112 6.3) and the connection is not trusted again.
            response.Framing = BodyFraming.Chunked;
            if (contentLength >= 0)
            {
                response.Reusable = false;
            }
        }
        else if (contentLength >= 0)
        {
            response.Framing = BodyFraming.ContentLength;
            response.ContentLength = contentLength;
        }
        else
        {
            response.Framing = BodyFraming.UntilClose;
            response.Reusable = false;
        }
        return true;
    }

    private static readonly SearchValues<byte> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>HTAB, SP, VCHAR and obs-text (RFC 9110 5.5): no control bytes.</summary>
    private static bool IsFieldText(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if ((b < 0x20 && b != '\t') || b == 0x7F)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Hop-by-hop response headers that are not passed on (YARP's list). Content-Length and
    /// Transfer-Encoding pass as they are: only framings the agent checked reach here.
    /// </summary>
    public static bool IsDropped(ReadOnlySpan<byte> name)
    {
        switch (name.Length)
        {
            case 4: return Ascii.EqualsIgnoreCase(name, "ALPN"u8);
            case 5: return Ascii.EqualsIgnoreCase(name, "Close"u8);
            case 2: return Ascii.EqualsIgnoreCase(name, "TE"u8);
            case 7: return Ascii.EqualsIgnoreCase(name, "Upgrade"u8) || Ascii.EqualsIgnoreCase(name, "Alt-Svc"u8);
            case 10: return Ascii.EqualsIgnoreCase(name, "Connection"u8) || Ascii.EqualsIgnoreCase(name, "Keep-Alive"u8);
            case 15: return Ascii.EqualsIgnoreCase(name, "Security-Scheme"u8);
        }
        return name.Length > 6 && Ascii.EqualsIgnoreCase(name[..6], "Proxy-"u8);
    }
}

/// <summary>
/// Follows a chunked body as its bytes pass through unchanged, to find where it ends; rejects
/// malformed framing so a broken backend cannot desynchronise the client connection.
/// </summary>
internal struct ChunkedScanner
{
    private enum State : byte { Size, Extension, SizeLf, Data, DataCr, DataLf, TrailerStart, Trailer, TrailerLf, EndLf, Done }

    private State _state;
    private long _remaining;
    private int _digits;

    public readonly bool Done => _state == State.Done;

    /// <summary>Consumes bytes; returns how many belong to the body (less than the input once it ended).</summary>
    public int Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && _state != State.Done)
        {
            var b = data[i];
            switch (_state)
            {
                case State.Size:
                    var digit = HexValue(b);
                    if (digit >= 0)
                    {
                        if (++_digits > 15)
                        {
                            throw new InvalidDataException("chunk size too large");
                        }
                        _remaining = (_remaining << 4) | (uint)digit;
                    }
                    else if (_digits > 0 && b == ';')
                    {
                        _state = State.Extension;
                    }
                    else if (_digits > 0 && b == '\r')
                    {
                        _state = State.SizeLf;
                    }
                    else
                    {
                        throw new InvalidDataException("invalid chunk size");
                    }
                    i++;
                    break;
                case State.Extension:
                    if (b == '\r')
                    {
                        _state = State.SizeLf;
                    }
                    else if (b == '\n')
                    {
                        throw new InvalidDataException("bare LF in chunk extension");
                    }
                    i++;
                    break;
                case State.SizeLf:
                    Expect(b, '\n');
                    i++;
                    _state = _remaining == 0 ? State.TrailerStart : State.Data;
                    break;
                case State.Data:
                    var take = (int)Math.Min(_remaining, data.Length - i);
                    i += take;
                    _remaining -= take;
                    if (_remaining == 0)
                    {
                        _state = State.DataCr;
                    }
                    break;
                case State.DataCr:
                    Expect(b, '\r');
                    i++;
                    _state = State.DataLf;
                    break;
                case State.DataLf:
                    Expect(b, '\n');
                    i++;
                    _digits = 0;
                    _state = State.Size;
                    break;
                case State.TrailerStart:
                    i++;
                    _state = b == '\r' ? State.EndLf : b == '\n' ? throw new InvalidDataException("bare LF in trailers") : State.Trailer;
                    break;
                case State.Trailer:
                    if (b == '\r')
                    {
                        _state = State.TrailerLf;
                    }
                    else if (b == '\n')
                    {
                        throw new InvalidDataException("bare LF in trailers");
                    }
                    i++;
                    break;
                case State.TrailerLf:
                    Expect(b, '\n');
                    i++;
                    _state = State.TrailerStart;
                    break;
                case State.EndLf:
                    Expect(b, '\n');
                    i++;
                    _state = State.Done;
                    break;
            }
        }
        return i;
    }

    private static void Expect(byte b, char expected)
    {
        if (b != expected)
        {
            throw new InvalidDataException("malformed chunked framing");
        }
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
