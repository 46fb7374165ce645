using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Backends;

public class BackendCommandTests
{
    [Fact]
    public async Task Drain_UpdatesOnlyStateWithTheResourceVersionRead()
    {
        var server = new FakeManagement()
            .On<GetRequest>("GetBackend", r => Samples.Backend(r.Name))
            .On<WriteBackendRequest>("UpdateBackend", r => r.Backend);
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("backend", "drain", "web-1");

        Assert.Equal(0, exitCode);
        Assert.Equal("backend/web-1 draining\n", output.ReplaceLineEndings("\n"));
        var sent = Assert.Single(server.Requests<WriteBackendRequest>("UpdateBackend")).Backend;
        var expected = Samples.Backend("web-1", "draining");
        expected.Status = null;
        Assert.Equal(expected, sent);
    }

    [Fact]
    public async Task Disable_StaleVersion_RereadsAndRetries()
    {
        var version = 7;
        var updates = 0;
        var server = new FakeManagement()
            .On<GetRequest>("GetBackend", r =>
            {
                var backend = Samples.Backend(r.Name);
                backend.Metadata.ResourceVersion = version++;
                return backend;
            })
            .On<WriteBackendRequest>("UpdateBackend", r => ++updates < 3
                ? throw new RpcException(new Grpc.Core.Status(StatusCode.Aborted, "resourceVersion is stale"))
                : r.Backend);
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("backend", "disable", "web-1");

        Assert.Equal(0, exitCode);
        Assert.Equal("backend/web-1 disabled\n", output.ReplaceLineEndings("\n"));
        Assert.Equal([7L, 8L, 9L], server.Requests<WriteBackendRequest>("UpdateBackend").Select(r => r.Backend.Metadata.ResourceVersion));
    }

    [Fact]
    public async Task Enable_AlwaysConflicting_GivesUpWithTheServerError()
    {
        var server = new FakeManagement()
            .On<GetRequest>("GetBackend", r => Samples.Backend(r.Name, "disabled"))
            .On<WriteBackendRequest>("UpdateBackend", _ => throw new RpcException(new Grpc.Core.Status(StatusCode.Aborted, "resourceVersion is stale")));
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("backend", "enable", "web-1");

        Assert.Equal(1, exitCode);
        Assert.Equal(5, server.Requests<WriteBackendRequest>("UpdateBackend").Count());
        Assert.StartsWith("Error from server (Aborted): resourceVersion is stale", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enable_AlreadyEnabled_WritesNothing()
    {
        var server = new FakeManagement().On<GetRequest>("GetBackend", r => Samples.Backend(r.Name));
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("backend", "enable", "web-1");

        Assert.Equal(0, exitCode);
        Assert.Equal("backend/web-1 unchanged (already enabled)\n", output.ReplaceLineEndings("\n"));
        Assert.DoesNotContain(server.Calls, c => c.Method == "UpdateBackend");
    }

    [Fact]
    public async Task Backend_UnknownAction_IsUsageError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, _) = await cli.RunAsync("backend", "pause", "web-1");

        Assert.Equal(2, exitCode);
    }
}
