using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Diff;

public class DiffCommandTests
{
    private static string[] Lines(string output) => output.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    private static async Task<string> ExportAsync(CliHarness cli)
    {
        var (exitCode, output, _) = await cli.RunAsync("export");
        Assert.Equal(0, exitCode);
        return cli.Home.File("system.yaml", output);
    }

    [Fact]
    public async Task Diff_OfTheExportedSystem_PrintsNothingAndExits0()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(FakeSystem.SampleResources()) };
        var file = await ExportAsync(cli);

        var (exitCode, output, error) = await cli.RunAsync("diff", "-f", file);

        Assert.Equal("", output);
        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task Diff_OneChangedField_PrintsExactlyThatChangeAndExits1()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(FakeSystem.SampleResources()) };
        var file = await ExportAsync(cli);
        var text = File.ReadAllText(file);
        var at = text.IndexOf("weight: 3", text.IndexOf("name: web-1", StringComparison.Ordinal), StringComparison.Ordinal);
        File.WriteAllText(file, string.Concat(text.AsSpan(0, at), "weight: 5", text.AsSpan(at + "weight: 3".Length)));

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", file);

        Assert.Equal(1, exitCode);
        var lines = Lines(output);
        Assert.Equal("~ backend/web-1", lines[0]);
        Assert.StartsWith("@@ ", lines[1], StringComparison.Ordinal);
        Assert.Equal(["-  weight: 3", "+  weight: 5"], lines.Where(l => l[0] is '-' or '+').ToArray());
        // state: enabled is the default: it is the same as absent and takes no line.
        Assert.Equal(["~ backend/web-1", "@@ -5,4 +5,4 @@", " spec:", "   pool: web", "   address: 127.0.0.1:9101", "-  weight: 3", "+  weight: 5"], lines);
    }

    [Fact]
    public async Task Diff_ChangedLabel_IsShown()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(Samples.Pool()) };
        var file = await ExportAsync(cli);
        File.WriteAllText(file, File.ReadAllText(file).Replace("tier: edge", "tier: internal", StringComparison.Ordinal));

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", file);

        Assert.Equal(1, exitCode);
        Assert.Equal(["~ pool/web", "@@ -3,7 +3,7 @@", " metadata:", "   name: web", "   labels:", "-    tier: edge", "+    tier: internal", " spec:", "   protocol: http", "   algorithm: weighted-round-robin"], Lines(output));
    }

    [Fact]
    public async Task Diff_NewResource_IsShownAsAddedWithAllItsLines()
    {
        using var cli = new CliHarness
        {
            Server = FakeSystem.Serving(FakeSystem.SampleResources()),
            Stdin = "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: web-3}\nspec: {pool: web, address: 127.0.0.1:9103}\n",
        };

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", "-");

        Assert.Equal(1, exitCode);
        Assert.Equal(
            ["+ backend/web-3 (new)", "+apiVersion: lb/v1", "+kind: Backend", "+metadata:", "+  name: web-3", "+spec:", "+  pool: web", "+  address: 127.0.0.1:9103"],
            Lines(output));
    }

    [Fact]
    public async Task Diff_NamesAndReferencesInOtherCase_AreUnchanged_AsTheServerLowercasesThem()
    {
        using var cli = new CliHarness
        {
            Server = FakeSystem.Serving(FakeSystem.SampleResources()),
            Stdin = "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: Web-1}\nspec: {pool: WEB, address: 127.0.0.1:9101, weight: 3, state: enabled}\n",
        };

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", "-");

        Assert.Equal("", output);
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task Diff_CertificateWithKey_NeverPrintsTheKey()
    {
        var stored = Samples.Certificate();
        using var cli = new CliHarness { Server = FakeSystem.Serving(stored) };
        var certificate = TestData.PathOf("shop.example.test.crt");
        var key = TestData.PathOf("shop.example.test.key");
        cli.Home.File("changed.yaml", $"apiVersion: lb/v1\nkind: Certificate\nmetadata: {{name: shop-tls}}\nspec: {{certificateFile: {certificate}, privateKeyFile: {key}}}\n");
        cli.Home.File("new.yaml", $"apiVersion: lb/v1\nkind: Certificate\nmetadata: {{name: other-tls}}\nspec: {{certificateFile: {certificate}, privateKeyFile: {key}}}\n");

        var (changedExit, changed, _) = await cli.RunAsync("diff", "-f", "changed.yaml");
        var (newExit, added, _) = await cli.RunAsync("diff", "-f", "new.yaml");

        Assert.Equal(1, changedExit);
        Assert.Equal(1, newExit);
        var keyText = File.ReadAllText(key).Split('\n')[1];
        foreach (var output in new[] { changed, added })
        {
            Assert.DoesNotContain("PRIVATE KEY", output, StringComparison.Ordinal);
            Assert.DoesNotContain(keyText, output, StringComparison.Ordinal);
        }
        Assert.Contains("+  privateKeyPem: <changed>", Lines(changed));
        Assert.Contains("-    AAAA", Lines(changed));
        Assert.Contains("+  privateKeyPem: <not shown>", Lines(added));
    }

    [Fact]
    public async Task Diff_CertificateFileHoldingAKeyToo_PrintsTheCertificateButNeverTheKey()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(Samples.Certificate()) };
        var key = File.ReadAllText(TestData.PathOf("shop.example.test.key"));
        // A combined file (certificate then key), as some tools write them.
        var combined = cli.Home.File("combined.pem", File.ReadAllText(TestData.PathOf("shop.example.test.crt")) + key);
        cli.Home.File("new.yaml", $"apiVersion: lb/v1\nkind: Certificate\nmetadata: {{name: other-tls}}\nspec: {{certificateFile: {combined}}}\n");

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", "new.yaml");

        Assert.Equal(1, exitCode);
        Assert.DoesNotContain("PRIVATE KEY", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Split('\n')[1], output, StringComparison.Ordinal);
        Assert.Contains("+    -----BEGIN CERTIFICATE-----", Lines(output));
        Assert.Contains("+    " + LoadBalancer.Cli.Diff.ResourceDiff.OtherPemNotShown, Lines(output));
    }

    [Fact]
    public async Task Diff_CertificateWithKeyAndTheStoredPem_IsUnchanged()
    {
        var stored = Samples.Certificate();
        stored.Spec.CertificatePem = File.ReadAllText(TestData.PathOf("shop.example.test.crt"));
        using var cli = new CliHarness
        {
            Server = FakeSystem.Serving(stored),
            Stdin = $"apiVersion: lb/v1\nkind: Certificate\nmetadata: {{name: shop-tls}}\nspec: {{certificateFile: {TestData.PathOf("shop.example.test.crt")}, privateKeyFile: {TestData.PathOf("shop.example.test.key")}}}\n",
        };

        var (exitCode, output, _) = await cli.RunAsync("diff", "-f", "-");

        Assert.Equal("", output);
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task Diff_ServerError_Exits2()
    {
        using var cli = new CliHarness { Server = new FakeManagement(), Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\n" };

        var (exitCode, _, error) = await cli.RunAsync("diff", "-f", "-");

        Assert.Equal(2, exitCode);
        Assert.Contains("ListPools", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Diff_BadManifest_Exits2()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving(), Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\nspec: {algoritm: x}\n" };

        var (exitCode, _, error) = await cli.RunAsync("diff", "-f", "-");

        Assert.Equal(2, exitCode);
        Assert.Contains("algoritm", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Diff_WithoutFile_IsAUsageError()
    {
        using var cli = new CliHarness { Server = FakeSystem.Serving() };

        var (exitCode, _, _) = await cli.RunAsync("diff");

        Assert.Equal(2, exitCode);
    }
}
