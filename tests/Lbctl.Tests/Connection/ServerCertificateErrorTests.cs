using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Connection;

/// <summary>
/// What lbctl says when the connection fails before any call reaches the server, through the
/// real channel: the control plane serves TLS with its own CA by default, so the first thing
/// a new user meets is an untrusted certificate, and the fix is --ca-file DATA/tls/ca.crt.
/// </summary>
public class ServerCertificateErrorTests
{
    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    [Fact]
    public async Task Https_CertificateFromUnknownCa_SuggestsTheControlPlanesCaFile()
    {
        using var ca = TestCertificates.CreateCa("lb-controlplane test CA");
        using var certificate = TestCertificates.CreateServerCertificate(ca);
        await using var server = StubServer.Tls(certificate);
        using var cli = new CliHarness();

        var (exitCode, output, error) = await cli.RunAsync("--server", $"https://127.0.0.1:{server.Port}", "whoami");

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        var lines = Lines(error);
        Assert.StartsWith($"Error: lbctl does not trust the certificate of the control plane at https://127.0.0.1:{server.Port}: it is not signed by a CA this machine trusts (", lines[0], StringComparison.Ordinal);
        Assert.Contains("issuer CN=lb-controlplane test CA", lines[0], StringComparison.Ordinal);
        Assert.Equal("  (lb-controlplane makes its own CA: pass --ca-file DATA/tls/ca.crt, DATA being its --data folder,", lines[1]);
    }

    [Fact]
    public async Task Https_CaFileOfAnotherControlPlane_SaysSoAndNamesTheFile()
    {
        using var ca = TestCertificates.CreateCa("this control plane");
        using var other = TestCertificates.CreateCa("another control plane");
        using var certificate = TestCertificates.CreateServerCertificate(ca);
        await using var server = StubServer.Tls(certificate);
        using var cli = new CliHarness();
        var caFile = cli.Home.File("ca.crt", other.ExportCertificatePem());

        var (exitCode, _, error) = await cli.RunAsync("--server", $"https://127.0.0.1:{server.Port}", "--ca-file", caFile, "whoami");

        Assert.Equal(1, exitCode);
        var lines = Lines(error);
        Assert.Contains($": it does not chain to the CA in {caFile} (", lines[0], StringComparison.Ordinal);
        Assert.Equal("  (the CA file must be this control plane's own: --ca-file DATA/tls/ca.crt, DATA being its --data folder)", lines[1]);
    }

    [Fact]
    public async Task Https_CertificateForAnotherHost_SuggestsANameItHoldsOrSan()
    {
        using var ca = TestCertificates.CreateCa("this control plane");
        using var certificate = TestCertificates.CreateServerCertificate(ca, dnsName: "cp.example.test");
        await using var server = StubServer.Tls(certificate);
        using var cli = new CliHarness();
        var caFile = cli.Home.File("ca.crt", ca.ExportCertificatePem());

        var (exitCode, _, error) = await cli.RunAsync("--server", $"https://127.0.0.1:{server.Port}", "--ca-file", caFile, "whoami");

        Assert.Equal(1, exitCode);
        var lines = Lines(error);
        Assert.EndsWith(": it was not issued for this host (subject CN=cp.example.test)", lines[0], StringComparison.Ordinal);
        Assert.Contains("--san HOST", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_ServerSpeaksPlainHttp_SaysTheHandshakeFailedAndPointsToHttp()
    {
        await using var server = StubServer.H2c();
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("--server", $"https://127.0.0.1:{server.Port}", "whoami");

        Assert.Equal(1, exitCode);
        var lines = Lines(error);
        Assert.StartsWith($"Error: TLS handshake with the control plane at https://127.0.0.1:{server.Port} failed: ", lines[0], StringComparison.Ordinal);
        Assert.Equal("  (does it serve TLS? one started with --insecure serves plain HTTP: use --server http://HOST:PORT)", lines[1]);
        Assert.DoesNotContain("--ca-file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http_ServerSpeaksTls_PointsToHttps()
    {
        using var ca = TestCertificates.CreateCa("this control plane");
        using var certificate = TestCertificates.CreateServerCertificate(ca);
        await using var server = StubServer.Tls(certificate);
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("--server", $"http://127.0.0.1:{server.Port}", "whoami");

        Assert.Equal(1, exitCode);
        var lines = Lines(error);
        Assert.True(lines[0].StartsWith($"Error: cannot connect to the control plane at http://127.0.0.1:{server.Port}: ", StringComparison.Ordinal), error);
        Assert.Equal("  (does it serve TLS? lb-controlplane does unless started with --insecure: use --server https://HOST:PORT and --ca-file DATA/tls/ca.crt)", lines[1]);
    }

    [Fact]
    public async Task Http_CaFileIsNeitherNeededNorRead()
    {
        using var cli = new CliHarness();

        // The CA file does not exist: reading it would fail with "cannot read CA file" before
        // any connection is tried. Nothing listens on port 1, so the call gets as far as connecting.
        var (exitCode, _, error) = await cli.RunAsync("--server", "http://127.0.0.1:1", "--ca-file", "/nonexistent/ca.crt", "whoami");

        Assert.Equal(1, exitCode);
        Assert.StartsWith("Error: cannot connect to the control plane at http://127.0.0.1:1: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("CA file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_MissingCaFile_IsAClearLocalError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("--server", "https://127.0.0.1:1", "--ca-file", "/nonexistent/ca.crt", "whoami");

        Assert.Equal(1, exitCode);
        Assert.StartsWith("error: cannot read CA file /nonexistent/ca.crt", error, StringComparison.Ordinal);
    }
}
