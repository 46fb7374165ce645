using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace LoadBalancer.Agent.Tcp.ProxyProtocol;

/// <summary>What a parse of the bytes received so far found.</summary>
internal enum ProxyHeaderStatus
{
    /// <summary>A whole header: <see cref="ProxyHeader.Length"/> bytes of it.</summary>
    Complete,

    /// <summary>So far a valid beginning; more bytes are needed.</summary>
    Incomplete,

    /// <summary>Not a PROXY protocol header (or a malformed or oversize one).</summary>
    Invalid,
}

/// <summary>
/// A PROXY protocol header (HAProxy's specification, versions 1 and 2): the client and the
/// address it connected to, as seen by the proxy in front. <see cref="Source"/> is null for a
/// v2 LOCAL command or a v1 UNKNOWN line (health checks of the proxy itself): the connection's
/// own peer stands for the client then.
/// </summary>
internal sealed record ProxyHeader(IPEndPoint? Source, IPEndPoint? Destination, int Length)
{
    /// <summary>Longest header accepted: v1 lines are at most 107 bytes; v2 TLVs beyond this are refused.</summary>
    public const int MaxLength = 4096;

    private const int V1MaxLength = 107;
    private const int V2FixedLength = 16;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>Parses the first bytes a client sent; never reads past the header.</summary>
    public static ProxyHeaderStatus TryParse(ReadOnlySpan<byte> data, out ProxyHeader? header)
    {
        header = null;
        if (data.Length == 0)
        {
            return ProxyHeaderStatus.Incomplete;
        }
        if (data[0] == V2Signature[0])
        {
            return TryParseV2(data, out header);
        }
        var prefix = Math.Min(data.Length, V1Prefix.Length);
        if (!data[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            return ProxyHeaderStatus.Invalid;
        }
        return TryParseV1(data, out header);
    }

    private static ProxyHeaderStatus TryParseV1(ReadOnlySpan<byte> data, out ProxyHeader? header)
    {
        header = null;
        var window = data[..Math.Min(data.Length, V1MaxLength)];
        var end = window.IndexOf("\r\n"u8);
        if (end < 0)
        {
            // A bare LF or anything past 107 bytes without CRLF is not a v1 line.
            return window.Contains((byte)'\n') || data.Length >= V1MaxLength ? ProxyHeaderStatus.Invalid : ProxyHeaderStatus.Incomplete;
        }
        var line = window[..end];
        foreach (var b in line)
        {
            if (b is < 0x20 or > 0x7e)
            {
                return ProxyHeaderStatus.Invalid;
            }
        }
        var text = Encoding.ASCII.GetString(line);
        var parts = text.Split(' ');
        var length = end + 2;
        if (parts.Length >= 2 && parts[1] == "UNKNOWN")
        {
            // "The receiver must ignore anything presented before the CRLF."
            header = new ProxyHeader(null, null, length);
            return ProxyHeaderStatus.Complete;
        }
        if (parts.Length != 6 || parts[1] is not ("TCP4" or "TCP6"))
        {
            return ProxyHeaderStatus.Invalid;
        }
        var family = parts[1] == "TCP4" ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (!TryAddress(parts[2], family, out var source) || !TryAddress(parts[3], family, out var destination)
            || !TryPort(parts[4], out var sourcePort) || !TryPort(parts[5], out var destinationPort))
        {
            return ProxyHeaderStatus.Invalid;
        }
        header = new ProxyHeader(new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort), length);
        return ProxyHeaderStatus.Complete;
    }

    private static bool TryAddress(string text, System.Net.Sockets.AddressFamily family, out IPAddress address) =>
        IPAddress.TryParse(text, out address!) && address.AddressFamily == family
        // IPAddress also parses "1", "0x7f.1" and the like; the specification wants dotted quads.
        && (family != System.Net.Sockets.AddressFamily.InterNetwork || text.Count(c => c == '.') == 3);

    private static bool TryPort(string text, out int port)
    {
        port = 0;
        // Decimal digits only, no sign, no leading zeros (the specification's 5-digit decimal).
        if (text.Length is 0 or > 5 || (text.Length > 1 && text[0] == '0') || !text.All(char.IsAsciiDigit))
        {
            return false;
        }
        port = int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        return port <= 65535;
    }

    private static ProxyHeaderStatus TryParseV2(ReadOnlySpan<byte> data, out ProxyHeader? header)
    {
        header = null;
        var signature = Math.Min(data.Length, V2Signature.Length);
        if (!data[..signature].SequenceEqual(V2Signature[..signature]))
        {
            return ProxyHeaderStatus.Invalid;
        }
        if (data.Length > V2Signature.Length && data[12] >> 4 != 2)
        {
            return ProxyHeaderStatus.Invalid;
        }
        if (data.Length < V2FixedLength)
        {
            return ProxyHeaderStatus.Incomplete;
        }
        var command = data[12] & 0x0F;
        var family = data[13] >> 4;
        var transport = data[13] & 0x0F;
        var length = V2FixedLength + BinaryPrimitives.ReadUInt16BigEndian(data[14..]);
        if (command > 1 || family > 3 || transport > 2 || length > MaxLength)
        {
            return ProxyHeaderStatus.Invalid;
        }
        if (data.Length < length)
        {
            return ProxyHeaderStatus.Incomplete;
        }
        var body = data[V2FixedLength..length];
        if (command == 0)
        {
            // LOCAL: the proxy's own connection (a health check); the address block is ignored.
            header = new ProxyHeader(null, null, length);
            return ProxyHeaderStatus.Complete;
        }
        switch (family)
        {
            case 1 when body.Length >= 12:
                header = new ProxyHeader(
                    new IPEndPoint(new IPAddress(body[..4]), BinaryPrimitives.ReadUInt16BigEndian(body[8..])),
                    new IPEndPoint(new IPAddress(body[4..8]), BinaryPrimitives.ReadUInt16BigEndian(body[10..])),
                    length);
                return ProxyHeaderStatus.Complete;
            case 2 when body.Length >= 36:
                header = new ProxyHeader(
                    new IPEndPoint(new IPAddress(body[..16]), BinaryPrimitives.ReadUInt16BigEndian(body[32..])),
                    new IPEndPoint(new IPAddress(body[16..32]), BinaryPrimitives.ReadUInt16BigEndian(body[34..])),
                    length);
                return ProxyHeaderStatus.Complete;
            case 0 or 3:
                // UNSPEC or a unix socket: no address to take; the connection's peer stands.
                header = new ProxyHeader(null, null, length);
                return ProxyHeaderStatus.Complete;
            default:
                // An address block shorter than its family needs.
                return ProxyHeaderStatus.Invalid;
        }
    }

    /// <summary>
    /// The header a pool sends ahead of the client's bytes: <paramref name="source"/> is the
    /// client, <paramref name="destination"/> the address it connected to. Without a source
    /// (a LOCAL or UNKNOWN header came in) v1 says UNKNOWN and v2 LOCAL.
    /// </summary>
    public static byte[] Write(int version, IPEndPoint? source, IPEndPoint? destination)
    {
        if (source is null || destination is null)
        {
            return version == 1 ? "PROXY UNKNOWN\r\n"u8.ToArray() : [.. V2Signature, 0x20, 0x00, 0x00, 0x00];
        }
        var (src, dst) = SameFamily(source.Address, destination.Address);
        var v4 = src.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        if (version == 1)
        {
            var line = $"PROXY {(v4 ? "TCP4" : "TCP6")} {src} {dst} {source.Port} {destination.Port}\r\n";
            return Encoding.ASCII.GetBytes(line);
        }
        var addressLength = v4 ? 12 : 36;
        var header = new byte[V2FixedLength + addressLength];
        V2Signature.CopyTo(header);
        header[12] = 0x21; // version 2, PROXY
        header[13] = (byte)(v4 ? 0x11 : 0x21); // INET or INET6, STREAM
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)addressLength);
        var body = header.AsSpan(V2FixedLength);
        var size = v4 ? 4 : 16;
        src.TryWriteBytes(body, out _);
        dst.TryWriteBytes(body[size..], out _);
        BinaryPrimitives.WriteUInt16BigEndian(body[(2 * size)..], (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(body[(2 * size + 2)..], (ushort)destination.Port);
        return header;
    }

    // A dual-mode socket reports IPv4 peers as ::ffff:a.b.c.d: both sides as IPv4 where both can be, else both as IPv6.
    private static (IPAddress Source, IPAddress Destination) SameFamily(IPAddress source, IPAddress destination)
    {
        var s = source.IsIPv4MappedToIPv6 ? source.MapToIPv4() : source;
        var d = destination.IsIPv4MappedToIPv6 ? destination.MapToIPv4() : destination;
        if (s.AddressFamily == d.AddressFamily)
        {
            return (s, d);
        }
        return (s.MapToIPv6(), d.MapToIPv6());
    }
}
