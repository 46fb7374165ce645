using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Diff;

public class AgentDiffTests
{
    private const string Applied = "{\n  \"tier\": \"edge\",\n  \"pools\": [\n    {\n      \"name\": \"web\",\n      \"backends\": [\n        \"web-1\"\n      ]\n    }\n  ]\n}\n";
    private const string Stored = "{\n  \"tier\": \"edge\",\n  \"pools\": [\n    {\n      \"name\": \"web\",\n      \"backends\": [\n        \"web-1\",\n        \"web-2\"\n      ]\n    }\n  ]\n}\n";

    [Fact]
    public async Task Agent_Behind_PrintsTheAppliedToStoredDiffAndExits1()
    {
        var server = new FakeManagement().On<GetRequest>("GetAgentConfig", r => new AgentConfig
        {
            Agent = r.Name, Tier = "edge", AppliedRevision = 4, StoredRevision = 5, AppliedHash = "aaa", StoredHash = "bbb",
            AppliedJson = Applied, StoredJson = Stored,
        });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("diff", "--agent", "edge-1");

        Assert.Equal(1, exitCode);
        Assert.Equal("", error);
        Assert.Contains("agent edge-1 (tier edge): applied revision 4, stored revision 5: differs", output, StringComparison.Ordinal);
        var lines = output.Split('\n');
        Assert.Contains("-        \"web-1\"", lines);
        Assert.Contains("+        \"web-1\",", lines);
        Assert.Contains("+        \"web-2\"", lines);
    }

    [Fact]
    public async Task Agent_InSync_SaysSoAndExits0()
    {
        var server = new FakeManagement().On<GetRequest>("GetAgentConfig", r => new AgentConfig
        {
            Agent = r.Name, Tier = "edge", AppliedRevision = 5, StoredRevision = 5, InSync = true, AppliedJson = Stored, StoredJson = Stored,
        });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("diff", "--agent", "edge-1");

        Assert.Equal(0, exitCode);
        Assert.Contains("in sync", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_AppliedVersionNoLongerHeld_SaysWhereToLook()
    {
        var server = new FakeManagement().On<GetRequest>("GetAgentConfig", r => new AgentConfig
        {
            Agent = r.Name, Tier = "edge", AppliedRevision = 2, StoredRevision = 9, AppliedHash = "0123456789abcdef", StoredJson = Stored,
        });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("diff", "--agent", "edge-1");

        Assert.Equal(1, exitCode);
        Assert.Contains("0123456789ab", output, StringComparison.Ordinal);
        Assert.Contains("/config", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData]
    [InlineData("--agent", "edge-1", "-f", "x.yaml")]
    public async Task NeitherOrBoth_IsAUsageError(params string[] args)
    {
        using var cli = new CliHarness { Server = new FakeManagement() };

        var (exitCode, _, error) = await cli.RunAsync(["diff", .. args]);

        Assert.Equal(2, exitCode);
        Assert.Contains("give one of -f FILE, --agent NAME or --revision A[..B]", error, StringComparison.Ordinal);
    }
}
