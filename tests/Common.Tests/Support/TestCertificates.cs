using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.Common.Tests.Support;

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
/// A loopback port that answers every connection with <paramref name="serve"/> (here: an
/// HTTPS answer, good or bad). Enough to see how a client fails against it.
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

    /// <summary>
    /// HTTPS (HTTP/1.1) with <paramref name="certificate"/>: answers the first request with
    /// <paramref name="status"/> and <paramref name="body"/>, or with the headers only, then
    /// nothing for 5 s, when <paramref name="stall"/>.
    /// </summary>
    public static StubServer HttpsAnswer(X509Certificate2 certificate, int status, string body, bool stall = false) => new(async stream =>
    {
        using var tls = new SslStream(stream);
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        });
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await tls.ReadAsync(one) == 0)
            {
                return;
            }
            head.Add(one[0]);
        }
        var content = System.Text.Encoding.ASCII.GetBytes(body);
        await tls.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n"));
        if (stall)
        {
            await tls.FlushAsync();
            await Task.Delay(TimeSpan.FromSeconds(5));
            return;
        }
        await tls.WriteAsync(content);
        await tls.FlushAsync();
    });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
