using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Tls;

/// <summary>
/// What an https listener negotiates under each TLS policy, tried with real handshakes: intermediate
/// (the default) offers TLS 1.2 only with AEAD ciphers, modern only TLS 1.3.
/// </summary>
public sealed class TlsPoliciesTests : IAsyncLifetime
{
    private InProcessAgent _agent = null!;
    private TestHttpBackend _backend = null!;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("edge");
        _backend = await TestHttpBackend.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _backend.DisposeAsync();
        await _agent.DisposeAsync();
    }

    private async Task<int> ListenerAsync(string policy)
    {
        var port = Ports.Free();
        var listener = Https("site", port, ["site"], Route("app")) with { TlsPolicy = policy };
        var outcome = (await _agent.ApplyAsync([listener], [Pool("app", [Backend("b", _backend.Port)])], [TestCertificates.Ecdsa("site", "shop.example.com")])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    /// <summary>The negotiated protocol and cipher, or null when the handshake was refused.</summary>
    private static async Task<(SslProtocols Protocol, TlsCipherSuite Cipher)?> HandshakeAsync(int port, SslProtocols protocols, params TlsCipherSuite[] ciphers)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        var options = new SslClientAuthenticationOptions { TargetHost = "shop.example.com", EnabledSslProtocols = protocols };
        if (ciphers.Length > 0 && OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = new CipherSuitesPolicy(ciphers);
        }
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await tls.AuthenticateAsClientAsync(options, cts.Token);
            return (tls.SslProtocol, tls.NegotiatedCipherSuite);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return null;
        }
    }

    [Fact]
    public async Task Intermediate_OffersTls12WithAeadCiphersOnly_AndTls13()
    {
        var port = await ListenerAsync("intermediate");

        Assert.Equal(SslProtocols.Tls13, (await HandshakeAsync(port, SslProtocols.Tls13))?.Protocol);
        var gcm = await HandshakeAsync(port, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        Assert.Equal((SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), gcm);
        // CBC suites (LUCKY13) are not offered at all.
        Assert.Null(await HandshakeAsync(port, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA));
    }

    [Fact]
    public async Task Modern_RefusesTls12()
    {
        var port = await ListenerAsync("modern");

        Assert.Null(await HandshakeAsync(port, SslProtocols.Tls12));
        Assert.Equal(SslProtocols.Tls13, (await HandshakeAsync(port, SslProtocols.Tls13))?.Protocol);
    }

    [Fact]
    public async Task APolicyChange_AppliesToTheNextHandshake_WithoutARestart()
    {
        var port = await ListenerAsync("intermediate");
        Assert.NotNull(await HandshakeAsync(port, SslProtocols.Tls12));

        Assert.Equal(port, await ListenerOnSamePortAsync(port, "modern"));

        Assert.Null(await HandshakeAsync(port, SslProtocols.Tls12));
    }

    [Theory]
    [InlineData("intermediate")]
    [InlineData("modern")]
    public async Task ATls13Client_ResumesItsSession_UnderEitherPolicy(string policy)
    {
        // Resumption needs the OpenSSL context kept per certificate, which a cipher list on the
        // options would prevent (a new context per handshake costs new connections half their rate).
        var port = await ListenerAsync(policy);
        var session = Path.Combine(Path.GetTempPath(), $"lb-tls-session-{Guid.NewGuid():N}.pem");
        try
        {
            var first = await SClientAsync(port, "-sess_out", session);
            Assert.Contains("New, TLSv1.3", first, StringComparison.Ordinal);
            var second = await SClientAsync(port, "-sess_in", session);
            Assert.Contains("Reused, TLSv1.3", second, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(session);
        }
    }

    /// <summary>openssl s_client's report of one TLS 1.3 connection (it waits for the session ticket).</summary>
    private static async Task<string> SClientAsync(int port, string sessionFlag, string sessionFile)
    {
        var start = new System.Diagnostics.ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "s_client", "-connect", $"127.0.0.1:{port}", "-servername", "shop.example.com", "-tls1_3", sessionFlag, sessionFile })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // A request, so that the client reads past the handshake and takes the server's tickets.
        await process.StandardInput.WriteAsync("GET / HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n");
        await process.StandardInput.FlushAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }
        return await output + await errors;
    }

    private async Task<int> ListenerOnSamePortAsync(int port, string policy)
    {
        var listener = Https("site", port, ["site"], Route("app")) with { TlsPolicy = policy };
        var outcome = (await _agent.ApplyAsync([listener], [Pool("app", [Backend("b", _backend.Port)])], [TestCertificates.Ecdsa("site", "shop.example.com")])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }
}
