using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Output;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Apply;

public class ApplyCommandTests
{
    private static FakeManagement EchoApply() => new FakeManagement().On<ApplyRequest>("Apply", request =>
    {
        var response = new ApplyResponse { Revision = 9, DryRun = request.DryRun };
        foreach (var resource in request.Resources)
        {
            var (kind, name) = resource.KindCase switch
            {
                Resource.KindOneofCase.Pool => ("Pool", resource.Pool.Metadata.Name),
                Resource.KindOneofCase.Backend => ("Backend", resource.Backend.Metadata.Name),
                Resource.KindOneofCase.Listener => ("Listener", resource.Listener.Metadata.Name),
                _ => ("Certificate", resource.Certificate.Metadata.Name),
            };
            response.Results.Add(new ApplyResult { Kind = kind, Name = name, Action = name.StartsWith("web", StringComparison.Ordinal) ? "configured" : "created" });
        }
        return response;
    });

    [Fact]
    public async Task Apply_ThreeTierExample_SendsOneRequestAndPrintsOneLinePerResult()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("apply", "-f", TestData.PathOf("three-tier.yaml"));

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        var request = Assert.Single(server.Requests<ApplyRequest>("Apply"));
        Assert.Equal(13, request.Resources.Count);
        Assert.False(request.DryRun);
        var lines = output.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(13, lines.Length);
        Assert.Equal("certificate/shop-tls created", lines[0]);
        Assert.Equal("pool/web configured", lines[1]);
    }

    [Fact]
    public async Task Apply_ServerWarnings_AreEachPrintedOnStderrAndTheExitIsStill0()
    {
        var server = EchoApply()
            .WithResponseHeader("Apply", "lb-warning", "Certificate/shop-tls: spec.certificatePem: is a self-signed certificate marked CA:TRUE")
            .WithResponseHeader("Apply", "lb-warning", "Certificate/other: spec.certificatePem: the leaf certificate expires at 2026-12-15T12:00:00Z, in 20 days");
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("apply", "-f", TestData.PathOf("three-tier.yaml"));

        Assert.Equal(0, exitCode);
        Assert.StartsWith("certificate/shop-tls created", output, StringComparison.Ordinal);
        Assert.Equal(
            "Warning: Certificate/shop-tls: spec.certificatePem: is a self-signed certificate marked CA:TRUE\n" +
            "Warning: Certificate/other: spec.certificatePem: the leaf certificate expires at 2026-12-15T12:00:00Z, in 20 days\n",
            error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Apply_ThreeMisspelledFieldsInTwoDocuments_AreAllReportedInOneRunWithTheirLines()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server };
        var file = cli.Home.File("typos.yaml", "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\nspec:\n  protocl: http\n  algoritm: round-robin\n---\napiVersion: lb/v1\nkind: Backend\nmetadata: {name: web-1}\nspec:\n  pool: web\n  adress: 127.0.0.1:9101\n");

        var (exitCode, _, error) = await cli.RunAsync("apply", "-f", file);

        Assert.Equal(2, exitCode);
        Assert.Empty(server.Calls);
        Assert.Contains("3 problems:", error, StringComparison.Ordinal);
        Assert.Contains("document 1 (Pool/web), line 5: unknown field \"protocl\" in spec; did you mean \"protocol\"?", error, StringComparison.Ordinal);
        Assert.Contains("document 1 (Pool/web), line 6: unknown field \"algoritm\" in spec; did you mean \"algorithm\"?", error, StringComparison.Ordinal);
        Assert.Contains("document 2 (Backend/web-1), line 13: unknown field \"adress\" in spec; did you mean \"address\"?", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("error: unknown flag '--outptu'; did you mean '--output'?", "get", "pools", "--outptu", "yaml")]
    [InlineData("error: unknown command 'drain'; did you mean 'lbctl backend drain web-1'?", "drain", "web-1")]
    public async Task MistypedCommandLine_OneLineWithASuggestion_AndWhereTheHelpIs(string expected, params string[] args)
    {
        using var cli = new CliHarness { Server = EchoApply() };

        var (exitCode, output, error) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        var lines = error.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal(expected, lines[0]);
        Assert.EndsWith("--help' for usage.", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_DryRun_OfABackendWithoutStateWhileItDrains_SaysItWouldBeEnabled()
    {
        var server = EchoApply().On<ListRequest>("ListBackends", _ => new BackendList { Items = { Samples.Backend("web-1", "draining") } });
        using var cli = new CliHarness { Server = server, Stdin = "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: web-1}\nspec: {pool: web, address: 127.0.0.1:9101}\n" };

        var (exitCode, output, _) = await cli.RunAsync("apply", "-f", "-", "--dry-run");

        Assert.Equal(0, exitCode);
        Assert.Equal("backend/web-1 configured (state: draining -> enabled) (dry run)\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Apply_DryRun_SetsFlagAndSuffixesEveryLine()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server, Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: db}\n" };

        var (exitCode, output, _) = await cli.RunAsync("apply", "-f", "-", "--dry-run");

        Assert.Equal(0, exitCode);
        Assert.True(Assert.Single(server.Requests<ApplyRequest>("Apply")).DryRun);
        Assert.Equal("pool/db created (dry run)\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Apply_SeveralFiles_AreAppliedTogether()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server };
        var a = cli.Home.File("a.yaml", "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n");
        var b = cli.Home.File("b.yaml", "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: b}\nspec: {pool: a}\n");

        var (exitCode, _, _) = await cli.RunAsync("apply", "-f", a, "-f", b);

        Assert.Equal(0, exitCode);
        Assert.Equal(2, Assert.Single(server.Requests<ApplyRequest>("Apply")).Resources.Count);
    }

    [Fact]
    public async Task Apply_ServerRejects_PrintsViolationsAndExits1()
    {
        var server = new FakeManagement().On<ApplyRequest>("Apply", _ => throw ErrorPrinterTests.BadRequestError());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("apply", "-f", TestData.PathOf("three-tier.yaml"));

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Equal(
            "Error from server (InvalidArgument): invalid request (2 problems)\n  spec.algorithm: unknown algorithm \"fastest\"\n  spec.healthCheck.interval: must be a duration such as 2s\n",
            error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Apply_InvalidManifest_Exits2WithoutCallingTheServer()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server };
        var file = cli.Home.File("bad.yaml", "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\nspec: {algoritm: x}\n");

        var (exitCode, _, error) = await cli.RunAsync("apply", "-f", file);

        Assert.Equal(2, exitCode);
        Assert.Empty(server.Calls);
        Assert.Matches($"^error: {System.Text.RegularExpressions.Regex.Escape(file)} document 1 \\(Pool/web\\), line \\d+: unknown field \"algoritm\" in spec; did you mean \"algorithm\"\\?\n$", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Apply_MissingFilename_IsUsageErrorWithHelpOnStderr()
    {
        using var cli = new CliHarness { Server = EchoApply() };

        var (exitCode, output, error) = await cli.RunAsync("apply");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Contains("--filename", error, StringComparison.Ordinal);
        Assert.Contains("--help", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_TokenFile_SendsBearerTokenOnTheCall()
    {
        var server = EchoApply();
        using var cli = new CliHarness { Server = server, Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n" };
        var token = cli.Home.File("token", "s3cret\n");

        var (exitCode, _, _) = await cli.RunAsync("--token-file", token, "apply", "-f", "-");

        Assert.Equal(0, exitCode);
        Assert.Equal("Bearer s3cret", Assert.Single(server.Calls).Headers!.GetValue("authorization"));
    }

    [Fact]
    public async Task Apply_MissingTokenFile_Exits1NamingTheFile()
    {
        using var cli = new CliHarness { Server = EchoApply(), Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n" };

        var (exitCode, _, error) = await cli.RunAsync("--token-file", "/nonexistent/token", "apply", "-f", "-");

        Assert.Equal(1, exitCode);
        Assert.StartsWith("error: cannot read token file /nonexistent/token", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_UnknownVerb_IsUsageError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("appply", "-f", "x");

        Assert.Equal(2, exitCode);
        Assert.Contains("appply", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_ServerNotRunning_NamesTheServerAndExits1()
    {
        using var cli = new CliHarness { Stdin = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n" };
        cli.Variables["LBCTL_SERVER"] = "http://127.0.0.1:1";

        var (exitCode, _, error) = await cli.RunAsync("apply", "-f", "-");

        Assert.Equal(1, exitCode);
        Assert.StartsWith("Error: cannot connect to the control plane at http://127.0.0.1:1", error, StringComparison.Ordinal);
    }
}
