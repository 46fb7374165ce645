using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Status;

public class StatusCommandTests
{
    [Fact]
    public async Task Status_ShowsRevisionCountsTiersAndAgents()
    {
        var server = new FakeManagement()
            .On<GetStatusRequest>("GetStatus", _ => new StatusResponse
            {
                Revision = 42,
                Version = "0.1.0",
                Pools = 3,
                Backends = 6,
                Listeners = 3,
                Certificates = 1,
                Tiers = { new TierStatus { Tier = "edge", Revision = 42, SnapshotHash = "abcdef0123456789", AgentsConnected = 1, AgentsTotal = 2, AgentsInSync = 1, Listeners = 1 } },
            })
            .On<ListRequest>("ListAgents", _ => new AgentList { Items = { Samples.Agent("edge-2", connected: false), Samples.Agent("edge-1") } });
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("status");

        Assert.Equal(0, exitCode);
        var lines = output.ReplaceLineEndings("\n").Split('\n');
        Assert.Equal("Server:      https://127.0.0.1:7400 (version 0.1.0)", lines[0]);
        Assert.Equal("Revision:    42", lines[1]);
        Assert.Equal("Resources:   3 pools, 6 backends, 3 listeners, 1 certificates", lines[2]);
        Assert.Contains("edge   42         abcdef012345   1           1/2 connected   1/1", lines);
        Assert.Contains(lines, l => l.StartsWith("edge-1   edge   Ready", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("edge-2   edge   Disconnected", StringComparison.Ordinal));
    }
}
