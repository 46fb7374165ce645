using System.Net;
using System.Text;
using LoadBalancer.Agent.Tcp.ProxyProtocol;

namespace LoadBalancer.Agent.Tests.Tcp.ProxyProtocol;

/// <summary>The PROXY protocol header, read and written as HAProxy's specification has it (versions 1 and 2).</summary>
public sealed class ProxyHeaderTests
{
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    [Theory]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n", "203.0.113.7:40000", "198.51.100.1:5432")]
    [InlineData("PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n", "[2001:db8::7]:40000", "[2001:db8::1]:443")]
    public void V1_GivesBothAddresses_AndItsLength(string line, string source, string destination)
    {
        var data = Encoding.ASCII.GetBytes(line + "client bytes");

        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeader.TryParse(data, out var header));
        Assert.Equal(IPEndPoint.Parse(source), header!.Source);
        Assert.Equal(IPEndPoint.Parse(destination), header.Destination);
        Assert.Equal(line.Length, header.Length);
    }

    [Fact]
    public void V1Unknown_HasNoAddress()
    {
        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeader.TryParse("PROXY UNKNOWN whatever\r\n"u8, out var header));
        Assert.Null(header!.Source);
        Assert.Equal(24, header.Length);
    }

    [Theory]
    [InlineData("P")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r")]
    public void V1_WithoutItsCrlf_IsIncomplete(string prefix) =>
        Assert.Equal(ProxyHeaderStatus.Incomplete, ProxyHeader.TryParse(Encoding.ASCII.GetBytes(prefix), out _));

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n")]
    [InlineData("proxy TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 40000\r\n")]
    [InlineData("PROXY TCP4 2001:db8::7 198.51.100.1 40000 5432\r\n")]
    [InlineData("PROXY TCP6 203.0.113.7 2001:db8::1 40000 5432\r\n")]
    [InlineData("PROXY TCP4 203.0.113 198.51.100.1 40000 5432\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 65536 5432\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 04000 5432\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.1 +4000 5432\r\n")]
    [InlineData("PROXY UDP4 203.0.113.7 198.51.100.1 40000 5432\r\n")]
    [InlineData("PROXY TCP4  203.0.113.7 198.51.100.1 40000 5432\r\n")]
    public void V1_Malformed_IsInvalid(string line) =>
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeader.TryParse(Encoding.ASCII.GetBytes(line), out _));

    [Fact]
    public void V1_LongerThan107BytesWithoutCrlf_IsInvalid()
    {
        var line = "PROXY TCP6 " + new string('1', 100);
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeader.TryParse(Encoding.ASCII.GetBytes(line), out _));
    }

    [Fact]
    public void V2Proxy_Ipv4_WithTlvs_GivesTheAddresses_AndTheWholeLength()
    {
        // Written by hand from the specification: version 2 PROXY, TCP over IPv4, 12 address bytes and a 7-byte TLV.
        byte[] header =
        [
            .. V2Signature, 0x21, 0x11, 0x00, 12 + 7,
            203, 0, 113, 7, 198, 51, 100, 1, 0x9C, 0x40, 0x15, 0x38,
            0x04, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        byte[] data = [.. header, .. "client"u8];

        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeader.TryParse(data, out var parsed));
        Assert.Equal(IPEndPoint.Parse("203.0.113.7:40000"), parsed!.Source);
        Assert.Equal(IPEndPoint.Parse("198.51.100.1:5432"), parsed.Destination);
        Assert.Equal(header.Length, parsed.Length);
        for (var cut = 1; cut < header.Length; cut++)
        {
            Assert.Equal(ProxyHeaderStatus.Incomplete, ProxyHeader.TryParse(header.AsSpan(0, cut), out _));
        }
    }

    [Fact]
    public void V2Local_HasNoAddress()
    {
        byte[] data = [.. V2Signature, 0x20, 0x00, 0x00, 0x00];
        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeader.TryParse(data, out var parsed));
        Assert.Null(parsed!.Source);
        Assert.Equal(16, parsed.Length);
    }

    [Theory]
    [InlineData(0x11, 0x11, 12)] // version 1 in a v2 header
    [InlineData(0x22, 0x11, 12)] // command 2
    [InlineData(0x21, 0x41, 12)] // family 4
    [InlineData(0x21, 0x11, 8)] // IPv4 with an address block too short
    [InlineData(0x21, 0x21, 12)] // IPv6 with an address block too short
    public void V2_Malformed_IsInvalid(byte versionCommand, byte family, byte length)
    {
        byte[] data = [.. V2Signature, versionCommand, family, 0x00, length, .. new byte[length]];
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeader.TryParse(data, out _));
    }

    [Fact]
    public void V2_LongerThanTheLimit_IsInvalid_BeforeItArrives()
    {
        byte[] data = [.. V2Signature, 0x21, 0x11, 0xFF, 0xFF];
        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeader.TryParse(data, out _));
    }

    [Fact]
    public void Write_V1_SaysTcp4ForIpv4_EvenFromADualModeSocket()
    {
        var bytes = ProxyHeader.Write(1, IPEndPoint.Parse("[::ffff:203.0.113.7]:40000"), IPEndPoint.Parse("198.51.100.1:5432"));
        Assert.Equal("PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n", Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void Write_V1_MixedFamilies_AreBothIpv6()
    {
        var bytes = ProxyHeader.Write(1, IPEndPoint.Parse("[2001:db8::7]:40000"), IPEndPoint.Parse("198.51.100.1:5432"));
        Assert.Equal("PROXY TCP6 2001:db8::7 ::ffff:198.51.100.1 40000 5432\r\n", Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void Write_V2_Ipv4_IsTheSpecificationsLayout()
    {
        var bytes = ProxyHeader.Write(2, IPEndPoint.Parse("203.0.113.7:40000"), IPEndPoint.Parse("198.51.100.1:5432"));
        byte[] expected = [.. V2Signature, 0x21, 0x11, 0x00, 12, 203, 0, 113, 7, 198, 51, 100, 1, 0x9C, 0x40, 0x15, 0x38];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Write_V2_Ipv6_RoundTrips()
    {
        var source = IPEndPoint.Parse("[2001:db8::7]:40000");
        var destination = IPEndPoint.Parse("[2001:db8::1]:443");
        var bytes = ProxyHeader.Write(2, source, destination);

        Assert.Equal(16 + 36, bytes.Length);
        Assert.Equal(0x21, bytes[13]);
        Assert.Equal(ProxyHeaderStatus.Complete, ProxyHeader.TryParse(bytes, out var parsed));
        Assert.Equal(source, parsed!.Source);
        Assert.Equal(destination, parsed.Destination);
    }

    [Fact]
    public void Write_WithoutAClientAddress_IsUnknownOrLocal()
    {
        Assert.Equal("PROXY UNKNOWN\r\n", Encoding.ASCII.GetString(ProxyHeader.Write(1, null, null)));
        Assert.Equal([.. V2Signature, 0x20, 0x00, 0x00, 0x00], ProxyHeader.Write(2, null, null));
    }

    [Fact]
    public void Reader_ConsumesWhatIsHeader_AndNeverTheClientsBytes()
    {
        var line = "PROXY TCP4 203.0.113.7 198.51.100.1 40000 5432\r\n"u8.ToArray();
        byte[] stream = [.. line, .. "client"u8];
        var reader = new ProxyHeaderReader();

        // The first 10 bytes arrive: all header, all consumed.
        stream.AsSpan(0, 10).CopyTo(reader.Buffer.AsSpan(reader.Have));
        Assert.Equal(ProxyHeaderStatus.Incomplete, reader.Offer(10, out var consume, out _));
        Assert.Equal(10, consume);

        // The rest and the client's first bytes arrive: only the header's rest is consumed.
        var rest = stream.Length - 10;
        stream.AsSpan(10).CopyTo(reader.Buffer.AsSpan(reader.Have));
        Assert.Equal(ProxyHeaderStatus.Complete, reader.Offer(rest, out consume, out var header));
        Assert.Equal(line.Length - 10, consume);
        Assert.Equal(line.Length, reader.Have);
        Assert.Equal(IPEndPoint.Parse("203.0.113.7:40000"), header!.Source);
    }
}
