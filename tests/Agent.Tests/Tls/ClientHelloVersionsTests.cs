using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LoadBalancer.Agent.Tls;
using static LoadBalancer.Agent.Tls.ClientHelloVersions;

namespace LoadBalancer.Agent.Tests.Tls;

public sealed class ClientHelloVersionsTests
{
    /// <summary>The first TLS record a real SslStream client sends with <paramref name="protocols"/> enabled.</summary>
    private static async Task<byte[]> HelloAsync(SslProtocols protocols)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await listener.AcceptTcpClientAsync();
        using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handshake = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "shop.example.com", EnabledSslProtocols = protocols }, cts.Token);

        var stream = server.GetStream();
        var header = new byte[5];
        await stream.ReadExactlyAsync(header, cts.Token);
        var record = new byte[5 + ((header[3] << 8) | header[4])];
        header.CopyTo(record, 0);
        await stream.ReadExactlyAsync(record.AsMemory(5), cts.Token);
        server.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        return record;
    }

    [Fact]
    public async Task AClientOfferingTls13_IsSeen_ThoughItsHelloSaysTls12()
    {
        var hello = await HelloAsync(SslProtocols.Tls12 | SslProtocols.Tls13);

        Assert.Equal(HelloStatus.Complete, Parse(new ReadOnlySequence<byte>(hello), out var tls13));
        Assert.True(tls13);
    }

    [Fact]
    public async Task ATls12OnlyClient_DoesNotOfferTls13()
    {
        var hello = await HelloAsync(SslProtocols.Tls12);

        Assert.Equal(HelloStatus.Complete, Parse(new ReadOnlySequence<byte>(hello), out var tls13));
        Assert.False(tls13);
    }

    [Fact]
    public async Task EveryPrefixOfAHello_IsIncomplete_AndNeverThrows()
    {
        var hello = await HelloAsync(SslProtocols.Tls12 | SslProtocols.Tls13);

        for (var length = 0; length < hello.Length; length++)
        {
            Assert.Equal(HelloStatus.Incomplete, Parse(new ReadOnlySequence<byte>(hello, 0, length), out var tls13));
            Assert.False(tls13);
        }
    }

    [Fact]
    public void PlainHttp_IsNotAHello() =>
        Assert.Equal(HelloStatus.NotAHello, Parse(new ReadOnlySequence<byte>("GET / HTTP/1.1\r\n\r\n"u8.ToArray()), out _));

    [Fact]
    public async Task AHelloWithItsLengthsCorrupted_ReadsAsNotOfferingTls13_WithoutThrowing()
    {
        var hello = await HelloAsync(SslProtocols.Tls12 | SslProtocols.Tls13);
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var damaged = (byte[])hello.Clone();
            // Keep the record header, damage the handshake message.
            for (var j = 0; j < 3; j++)
            {
                damaged[5 + random.Next(damaged.Length - 5)] = (byte)random.Next(256);
            }
            Assert.Equal(HelloStatus.Complete, Parse(new ReadOnlySequence<byte>(damaged), out _));
        }
    }
}
