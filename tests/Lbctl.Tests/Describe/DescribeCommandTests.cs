using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Describe;

public class DescribeCommandTests
{
    private static FakeManagement Server() => new FakeManagement()
        .On<GetRequest>("GetListener", _ => Samples.Listener())
        .On<GetRequest>("GetCertificate", _ => Samples.Certificate())
        .On<GetRequest>("GetPool", _ => Samples.Pool())
        .On<GetRequest>("GetAgent", r => AsServed(Samples.Agent(r.Name, connected: r.Name != "edge-2")));

    /// <summary>As the control plane returns an agent: its metadata is its name alone.</summary>
    private static Agent AsServed(Agent agent)
    {
        agent.Metadata = new ObjectMeta { Name = agent.Metadata.Name };
        agent.Status.ConnectedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Samples.Now - TimeSpan.FromMinutes(10));
        agent.Status.Listeners.Add(new ListenerAgentStatus { Agent = agent.Metadata.Name, Programmed = true, Revision = 42 });
        return agent;
    }

    [Fact]
    public async Task Describe_Listener_ShowsMetadataSpecConditionsAndAgents()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("describe", "listener", "public-https");

        Assert.Equal(0, exitCode);
        Assert.Contains("Name:             public-https\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("Resource Version: 7\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("  port: 8443\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("  Conditions:\n    TYPE         STATUS   REASON      MESSAGE                          OBSERVED-GENERATION\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("    Programmed   False    PortInUse   edge-2: address already in use   2\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("  Agents:\n    AGENT    PROGRAMMED   REASON                   REVISION\n    edge-2   false        address already in use   41\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Describe_Pool_ShowsLabelsAndPerTierHealth()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("describe", "po", "web");

        Assert.Contains("Labels:           tier=edge", output, StringComparison.Ordinal);
        Assert.Contains("Created:          2026-11-25T09:00:00Z (3h0m ago)", output, StringComparison.Ordinal);
        Assert.Contains("    expectedStatus: \"200\"", output, StringComparison.Ordinal);
        Assert.Contains("  Backends Total:", output, StringComparison.Ordinal);
        Assert.Contains("    TIER   HEALTHY   TOTAL", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Describe_Certificate_SummarisesThePemInsteadOfPrintingIt()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("describe", "cert", "shop-tls");

        Assert.DoesNotContain("AAAA", output, StringComparison.Ordinal);
        Assert.Contains("certificatePem: <1 PEM block(s),", output, StringComparison.Ordinal);
        Assert.Contains("Dns Names:", output, StringComparison.Ordinal);
        Assert.Contains("shop.example.test, www.shop.example.test", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Describe_Agent_ShowsItsOwnFieldsAndOneStatusSection()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("describe", "agent", "edge-1");

        var text = output.ReplaceLineEndings("\n");
        Assert.Equal(0, exitCode);
        Assert.Matches(@"^Name: +edge-1\nKind: +Agent\nTier: +edge\nStatus:\n  Phase: +Ready\n", text);
        Assert.Single(text.Split('\n'), l => l.StartsWith("Status", StringComparison.Ordinal));
        Assert.Matches(@"\n  Connected At: +\S+ \(10m ago\)\n", text);
        Assert.Matches(@"\n  Applied Revision: +42\n", text);
        Assert.Contains("  Listeners:\n    AGENT    PROGRAMMED   REASON   REVISION\n    edge-1   true                  42\n", text, StringComparison.Ordinal);
        // Nothing an agent does not have: no UID, labels, versions or creation time, and no empty spec.
        foreach (var absent in new[] { "UID", "<unknown>", "Labels", "Resource Version", "Generation", "Created", "Spec:" })
        {
            Assert.DoesNotContain(absent, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Describe_DisconnectedAgent_SaysSoInItsPhase()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("describe", "agent", "edge-2");

        Assert.Matches(@"\nStatus:\n  Phase: +Disconnected\n", output.ReplaceLineEndings("\n"));
        Assert.Matches(@"\n  Last Nack Error: +listener public-https: address already in use\n", output.ReplaceLineEndings("\n"));
    }
}
