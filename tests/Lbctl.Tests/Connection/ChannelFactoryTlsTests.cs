using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Connection;

/// <summary>
/// The pinning is wired into the real channel: a TLS listener with a certificate from a test
/// CA sees the HTTP/2 preface only when lbctl trusts that CA.
/// </summary>
public class ChannelFactoryTlsTests
{
    /// <summary>Runs one TLS accept; returns whether the client went on to send the HTTP/2 preface.</summary>
    private static async Task<bool> ClientTrustsServerAsync(X509Certificate2 serverCertificate, string caFile)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var tls = new SslStream(client.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = serverCertificate,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                });
                var buffer = new byte[3];
                var read = await tls.ReadAtLeastAsync(buffer, 3, throwOnEndOfStream: false).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                return read == 3 && Encoding.ASCII.GetString(buffer) == "PRI";
            }
            catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or TimeoutException)
            {
                return false;
            }
        });

        using var channel = ChannelFactory.CreateChannel(new ConnectionSettings(new Uri($"https://127.0.0.1:{port}"), null, caFile));
        var management = new Management.ManagementClient(channel);
        // The test server never answers gRPC; only what it saw matters.
        await Assert.ThrowsAsync<RpcException>(async () =>
            await management.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2)));
        return await server;
    }

    [Fact]
    public async Task CreateChannel_ServerCertificateFromPinnedCa_IsTrusted()
    {
        using var temp = new TempDirectory();
        using var ca = TestCertificates.CreateCa("lb test ca");
        using var serverCertificate = TestCertificates.CreateServerCertificate(ca);
        var caFile = temp.File("ca.crt", ca.ExportCertificatePem());

        Assert.True(await ClientTrustsServerAsync(serverCertificate, caFile));
    }

    [Fact]
    public async Task CreateChannel_ServerCertificateFromOtherCa_IsRejected()
    {
        using var temp = new TempDirectory();
        using var ca = TestCertificates.CreateCa("lb test ca");
        using var other = TestCertificates.CreateCa("someone else");
        using var serverCertificate = TestCertificates.CreateServerCertificate(ca);
        var caFile = temp.File("ca.crt", other.ExportCertificatePem());

        Assert.False(await ClientTrustsServerAsync(serverCertificate, caFile));
    }
}
