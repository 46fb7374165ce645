using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Export;

public class ExportWithKeysTests
{
    private const string KeyPem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";

    [Fact]
    public async Task IncludeKeys_AsksForEachKey_AndTheManifestCarriesIt()
    {
        var server = FakeSystem.Serving(FakeSystem.SampleResources())
            .On<GetRequest>("ExportCertificateKey", r => new CertificateKey { Name = r.Name, PrivateKeyPem = KeyPem });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("export", "--include-keys");

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Equal(["shop-tls"], server.Requests<GetRequest>("ExportCertificateKey").Select(r => r.Name));
        Assert.Contains("keep this file secret", output, StringComparison.Ordinal);
        var parsed = ManifestReader.Read([new ManifestSource("export.yaml", cli.Home.Path, () => new StringReader(output))]);
        var certificate = (Certificate)parsed.Single(r => r.Message is Certificate).Message;
        Assert.Equal(KeyPem, certificate.Spec.PrivateKeyPem);
    }

    [Fact]
    public async Task IncludeKeys_ToFile_IsOwnerOnly()
    {
        var server = FakeSystem.Serving(FakeSystem.SampleResources())
            .On<GetRequest>("ExportCertificateKey", r => new CertificateKey { Name = r.Name, PrivateKeyPem = KeyPem });
        using var cli = new CliHarness { Server = server };
        var file = Path.Combine(cli.Home.Path, "all.yaml");
        await File.WriteAllTextAsync(file, "old");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        var (exitCode, output, _) = await cli.RunAsync("export", "--include-keys", "-o", file);

        Assert.Equal(0, exitCode);
        Assert.Equal("", output);
        Assert.Contains("BEGIN PRIVATE KEY", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    public async Task IncludeKeys_RefusedByTheServer_Exits1AndWritesNoFile()
    {
        var server = FakeSystem.Serving(FakeSystem.SampleResources())
            .On<GetRequest>("ExportCertificateKey", _ => throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.PermissionDenied, "token t-1 has role viewer")));
        using var cli = new CliHarness { Server = server };
        var file = Path.Combine(cli.Home.Path, "all.yaml");

        var (exitCode, _, error) = await cli.RunAsync("export", "--include-keys", "-o", file);

        Assert.Equal(1, exitCode);
        Assert.Contains("viewer", error, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
    }
}
