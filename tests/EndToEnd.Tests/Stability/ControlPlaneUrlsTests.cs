using System.Globalization;
using System.Text.Json;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Stability;

/// <summary>Issue 8: several control-plane URLs may be given; the agent tries them in turn.</summary>
public sealed class ControlPlaneUrlsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task FirstUrlRefusesConnections_AgentMovesToTheNext_AndServes()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            // Nothing listens there: every connect is refused.
            using var refusing = Ports.Refusing();
            var refused = $"https://127.0.0.1:{refusing.Port.ToString(CultureInfo.InvariantCulture)}";
            var backend = await cluster.StartBackendAsync("u-1");
            var agent = await cluster.StartAgentWithControlPlanesAsync("edge", "urls-1", $"{refused},{cluster.ControlPlaneUrl}");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("urls"), Yaml.Backend("u-1", "urls", port: backend.Port), Yaml.HttpListener("urls", "edge", port, "urls")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/") == "u-1", Propagation, "the listener", cluster.Diagnostics);
            await Wait.UntilAsync(
                async () =>
                {
                    var agents = await cluster.LbctlAsync("get", "agents", "-o", "json");
                    return JsonDocument.Parse(agents.Stdout).RootElement.GetProperty("items").EnumerateArray().Any(a =>
                        a.GetProperty("metadata").GetProperty("name").GetString() == "urls-1"
                        && a.GetProperty("status").GetProperty("connected").GetBoolean());
                },
                Propagation,
                "lbctl to list the agent as connected",
                cluster.Diagnostics);

            // It got there by trying the refused URL first, not by skipping it.
            Assert.Contains($"Sync stream to {refused}/ failed", agent.Process.Output, StringComparison.Ordinal);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
