using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Certificates;

public class CertCommandTests
{
    [Fact]
    public async Task Rotate_SendsNewPemsKeepingLabelsAndPrintsFingerprint()
    {
        var server = new FakeManagement()
            .On<GetRequest>("GetCertificate", _ =>
            {
                var certificate = Samples.Certificate();
                certificate.Metadata.Labels["team"] = "shop";
                return certificate;
            })
            .On<WriteCertificateRequest>("UpdateCertificate", r =>
            {
                var updated = r.Certificate.Clone();
                updated.Spec.PrivateKeyPem = "";
                updated.Status = new CertificateStatus { FingerprintSha256 = "0123abcd" };
                return updated;
            });
        using var cli = new CliHarness { Server = server };
        var cert = cli.Home.File("new.crt", "NEW CERT");
        var key = cli.Home.File("new.key", "NEW KEY");

        var (exitCode, output, _) = await cli.RunAsync("cert", "rotate", "shop-tls", "--cert", cert, "--key", key);

        Assert.Equal(0, exitCode);
        Assert.Equal("certificate/shop-tls rotated (fingerprint 0123abcd)\n", output.ReplaceLineEndings("\n"));
        var sent = Assert.Single(server.Requests<WriteCertificateRequest>("UpdateCertificate")).Certificate;
        Assert.Equal(("NEW CERT", "NEW KEY"), (sent.Spec.CertificatePem, sent.Spec.PrivateKeyPem));
        Assert.Equal("shop", sent.Metadata.Labels["team"]);
        Assert.Equal(7, sent.Metadata.ResourceVersion);
        Assert.Null(sent.Status);
    }

    [Fact]
    public async Task Rotate_ServerWarnsOfExpiry_PrintsTheWarningOnStderr()
    {
        var server = new FakeManagement()
            .On<GetRequest>("GetCertificate", _ => Samples.Certificate())
            .On<WriteCertificateRequest>("UpdateCertificate", r => r.Certificate)
            .WithResponseHeader("UpdateCertificate", "lb-warning", "spec.certificatePem: the leaf certificate expires at 2026-12-15T12:00:00Z, in 20 days");
        using var cli = new CliHarness { Server = server };
        var cert = cli.Home.File("new.crt", "NEW CERT");
        var key = cli.Home.File("new.key", "NEW KEY");

        var (exitCode, output, error) = await cli.RunAsync("cert", "rotate", "shop-tls", "--cert", cert, "--key", key);

        Assert.Equal(0, exitCode);
        Assert.StartsWith("certificate/shop-tls rotated", output, StringComparison.Ordinal);
        Assert.Equal("Warning: spec.certificatePem: the leaf certificate expires at 2026-12-15T12:00:00Z, in 20 days\n", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Rotate_MissingKeyFile_Exits2BeforeCallingTheServer()
    {
        var server = new FakeManagement();
        using var cli = new CliHarness { Server = server };
        var cert = cli.Home.File("new.crt", "NEW CERT");

        var (exitCode, _, error) = await cli.RunAsync("cert", "rotate", "shop-tls", "--cert", cert, "--key", "missing.key");

        Assert.Equal(2, exitCode);
        Assert.StartsWith("error: cannot read private key file", error, StringComparison.Ordinal);
        Assert.Empty(server.Calls);
    }

    [Fact]
    public async Task Rotate_WithoutKeyOption_IsUsageError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("cert", "rotate", "shop-tls", "--cert", "x.crt");

        Assert.Equal(2, exitCode);
        Assert.Contains("--key", error, StringComparison.Ordinal);
    }
}
