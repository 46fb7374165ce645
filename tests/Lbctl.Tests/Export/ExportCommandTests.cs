using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Export;

public class ExportCommandTests
{
    /// <summary>What a manifest can carry: name, labels and spec; no server metadata, no status.</summary>
    private static IMessage AuthorPart(IMessage message)
    {
        var copy = message.Descriptor.Parser.ParseFrom(message.ToByteString());
        var metaField = copy.Descriptor.FindFieldByName("metadata");
        var meta = (ObjectMeta)metaField.Accessor.GetValue(copy);
        var stripped = new ObjectMeta { Name = meta.Name };
        stripped.Labels.Add(meta.Labels);
        metaField.Accessor.SetValue(copy, stripped);
        copy.Descriptor.FindFieldByName("status").Accessor.Clear(copy);
        return copy;
    }

    [Fact]
    public async Task Export_RoundTrip_ParsesBackIntoTheSameNamesLabelsAndSpecs()
    {
        var system = FakeSystem.SampleResources();
        using var cli = new CliHarness { Server = FakeSystem.Serving(system) };

        var (exitCode, output, error) = await cli.RunAsync("export");

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        var parsed = ManifestReader.Read([new ManifestSource("export.yaml", cli.Home.Path, () => new StringReader(output))]);
        Assert.Equal(
            ["certificate/shop-tls", "pool/web", "backend/web-1", "backend/web-2", "listener/public-https"],
            parsed.Select(r => r.Ref));
        foreach (var resource in parsed)
        {
            var original = system.Single(m => m.Descriptor == resource.Message.Descriptor
                && Resources.ApiKind.NameOf(m) == resource.Name);
            Assert.Equal(AuthorPart(original), resource.Message);
        }
    }

    [Fact]
    public async Task Export_WritesNoStatusNorServerMetadata()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(FakeSystem.SampleResources()) };

        var (_, output, _) = await cli.RunAsync("export");

        foreach (var field in new[] { "status:", "uid:", "resourceVersion:", "generation:", "createdAt:", "updatedAt:", "conditions:", "privateKeyPem" })
        {
            Assert.DoesNotContain(field, output, StringComparison.Ordinal);
        }
        Assert.Contains("apiVersion: lb/v1\nkind: Pool\nmetadata:\n  name: web\n  labels:\n    tier: edge\nspec:\n", output, StringComparison.Ordinal);
        // An optional field the author wrote as 0 stays: it is not a default the server added.
        Assert.Contains("  retries: 0\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_Certificate_HasItsPemAndACommentThatTheKeyIsNotExported()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(Samples.Certificate()) };

        var (_, output, _) = await cli.RunAsync("export");

        Assert.StartsWith("# The private key of certificate shop-tls is not exported", output, StringComparison.Ordinal);
        Assert.Contains("privateKeyFile", output, StringComparison.Ordinal);
        Assert.Contains("  certificatePem: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_ToFile_WritesTheFileAndNothingToStdout()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(FakeSystem.SampleResources()) };

        var (exitCode, output, _) = await cli.RunAsync("export", "-o", "all.yaml");
        var (_, toStdout, _) = await cli.RunAsync("export");

        Assert.Equal(0, exitCode);
        Assert.Equal("", output);
        Assert.Equal(toStdout, File.ReadAllText(Path.Combine(cli.Home.Path, "all.yaml")));
    }

    [Fact]
    public async Task Export_EmptySystem_WritesNothing()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving() };

        var (exitCode, output, _) = await cli.RunAsync("export");

        Assert.Equal(0, exitCode);
        Assert.Equal("", output);
    }
}
