using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Delete;

public class DeleteCommandTests
{
    private static FakeManagement Server(params string[] missing)
    {
        DeleteResponse Delete(DeleteRequest request) => missing.Contains(request.Name)
            ? throw new RpcException(new Grpc.Core.Status(StatusCode.NotFound, $"\"{request.Name}\" not found"))
            : new DeleteResponse { Revision = 10 };
        return new FakeManagement()
            .On<DeleteRequest>("DeletePool", Delete)
            .On<DeleteRequest>("DeleteBackend", Delete)
            .On<DeleteRequest>("DeleteListener", Delete)
            .On<DeleteRequest>("DeleteCertificate", Delete)
            .On<DeleteRequest>("DeleteAgent", Delete);
    }

    [Fact]
    public async Task Delete_KindAndName_PrintsDeleted()
    {
        var server = Server();
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("delete", "pool", "web");

        Assert.Equal(0, exitCode);
        Assert.Equal("pool/web deleted\n", output.ReplaceLineEndings("\n"));
        Assert.Equal("web", Assert.Single(server.Requests<DeleteRequest>("DeletePool")).Name);
    }

    [Fact]
    public async Task Delete_File_DeletesEveryResourceInReverseOrderWithoutReadingPemFiles()
    {
        var server = Server();
        using var cli = new CliHarness { Server = server };
        var manifest = cli.Home.File("m.yaml", """
            apiVersion: lb/v1
            kind: Certificate
            metadata: {name: tls}
            spec: {certificateFile: gone.crt, privateKeyFile: gone.key}
            ---
            apiVersion: lb/v1
            kind: Pool
            metadata: {name: web}
            ---
            apiVersion: lb/v1
            kind: Backend
            metadata: {name: web-1}
            """);

        var (exitCode, output, _) = await cli.RunAsync("delete", "-f", manifest, "--dry-run");

        Assert.Equal(0, exitCode);
        Assert.Equal(
            "backend/web-1 deleted (dry run)\npool/web deleted (dry run)\ncertificate/tls deleted (dry run)\n",
            output.ReplaceLineEndings("\n"));
        Assert.Equal(["DeleteBackend", "DeletePool", "DeleteCertificate"], server.Calls.Select(c => c.Method));
        Assert.All(server.Calls, c => Assert.True(((DeleteRequest)c.Request).DryRun));
    }

    [Fact]
    public async Task Delete_NotFound_ContinuesAndExits1()
    {
        using var cli = new CliHarness { Server = Server("b") };

        var (exitCode, output, error) = await cli.RunAsync("delete", "be", "a", "b", "c");

        Assert.Equal(1, exitCode);
        Assert.Equal("backend/a deleted\nbackend/c deleted\n", output.ReplaceLineEndings("\n"));
        Assert.Equal("Error from server (NotFound): \"b\" not found\n", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Delete_IgnoreNotFound_Exits0()
    {
        using var cli = new CliHarness { Server = Server("b") };

        var (exitCode, _, error) = await cli.RunAsync("delete", "be", "b", "--ignore-not-found");

        Assert.Equal((0, ""), (exitCode, error));
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("delete", "pool")]
    [InlineData("delete", "pool", "web", "-f", "x.yaml")]
    [InlineData("delete", "gadget", "x")]
    public async Task Delete_IncompleteCommandLine_IsUsageError(params string[] args)
    {
        using var cli = new CliHarness { Server = Server() };

        var (exitCode, output, error) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Contains("--help", error, StringComparison.Ordinal);
    }
}
