using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>A CA and serving certificates signed by it, as the control plane makes in DATA/tls.</summary>
internal static class TestCertificates
{
    public static X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    /// <summary>A serving certificate for 127.0.0.1, or for <paramref name="dnsName"/> only when given.</summary>
    public static X509Certificate2 CreateServerCertificate(X509Certificate2 ca, string? dnsName = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName ?? "127.0.0.1"}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (dnsName is null)
        {
            names.AddIpAddress(IPAddress.Loopback);
        }
        else
        {
            names.AddDnsName(dnsName);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), [5, 6, 7, 8]);
        // Round-trip through PKCS#12 so that the platform TLS stack gets a usable private key.
        return X509CertificateLoader.LoadPkcs12(certificate.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>
/// A loopback port that answers every connection with <paramref name="serve"/>: a TLS
/// handshake, or bytes of another protocol. Enough to see how lbctl fails against it.
/// </summary>
internal sealed class StubServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public StubServer(Func<NetworkStream, Task> serve)
    {
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        try
                        {
                            await serve(client.GetStream());
                        }
                        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or SocketException)
                        {
                            // The client gave up on us, which is what the tests provoke.
                        }
                    }
                });
            }
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Completes a TLS handshake with <paramref name="certificate"/> if the client accepts it, then waits.</summary>
    public static StubServer Tls(X509Certificate2 certificate) => new(async stream =>
    {
        using var tls = new SslStream(stream);
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        });
        _ = await tls.ReadAtLeastAsync(new byte[64], 64, throwOnEndOfStream: false).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
    });

    /// <summary>Plain HTTP/2 (h2c): answers whatever comes, a TLS ClientHello too, with GOAWAY (PROTOCOL_ERROR).</summary>
    public static StubServer H2c() => new(async stream =>
    {
        _ = await stream.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false);
        await stream.WriteAsync(new byte[] { 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 });
        await Task.Delay(200);
    });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
