using System.Text.Json;
using System.Text.RegularExpressions;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Observability;

/// <summary>
/// deploy/observability: the alert rules load in Prometheus's own checker, and every metric the
/// dashboard and the rules query is one a real agent and control plane expose.
/// </summary>
public sealed partial class ObservabilityBundleTests
{
    private static readonly string Folder = Path.Combine(Binaries.RepositoryRoot, "deploy", "observability");

    [Fact]
    public async Task AlertRules_PassPromtool()
    {
        var rules = await Commands.RunAsync(Promtool(), ["check", "rules", Path.Combine(Folder, "lb-alerts.yml")]);
        Assert.True(rules.ExitCode == 0, rules.ToString());
        Assert.Contains("SUCCESS: 6 rules found", rules.Stdout + rules.Stderr, StringComparison.Ordinal);

        // The example configuration names the rule file and the two jobs the rules expect.
        var config = await Commands.RunAsync(Promtool(), ["check", "config", Path.Combine(Folder, "prometheus.yml")]);
        Assert.True(config.ExitCode == 0, config.ToString());
    }

    [Fact]
    public void Dashboard_IsGrafanaJsonWithAQueryInEveryPanel()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "lb-dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().Where(p => p.GetProperty("type").GetString() != "row").ToList();

        Assert.NotEmpty(panels);
        Assert.All(panels, panel =>
        {
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            Assert.All(targets, t => Assert.Contains("lb_", t.GetProperty("expr").GetString(), StringComparison.Ordinal));
        });
        // Unique ids: Grafana keys panels by them.
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
    }

    [Fact]
    public async Task EveryMetricInTheDashboardAndRules_IsInARealScrape_AndAgentsInSyncShows()
    {
        var used = UsedMetricNames();
        Assert.Contains("lb_agent_requests_total", used);
        Assert.Contains("lb_controlplane_agent_in_sync", used);

        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("obs-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("watched", extra: "  healthCheck: {type: http, path: /healthz, interval: 2s, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 2}"),
                Yaml.Backend("obs-1", "watched", backend.Port),
                Yaml.HttpListener("front", "edge", port, "watched")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "obs-1", TimeSpan.FromSeconds(15), "the listener to serve", cluster.Diagnostics);

            // The control plane reports the agent in sync once it has ACKed the tier's snapshot.
            await Wait.UntilAsync(
                async () => (await MetricsScrape.ReadAsync(cluster.Http, cluster.ControlPlaneAdminUrl)).GetValueOrDefault("lb_controlplane_agent_in_sync{tier=\"edge\",agent=\"edge-1\"}") == 1,
                TimeSpan.FromSeconds(15), "the agent in sync in the control plane's metrics", cluster.Diagnostics);

            var exposed = await MetricsScrape.NamesAsync(cluster.Http, agent.AdminUrl);
            exposed.UnionWith(await MetricsScrape.NamesAsync(cluster.Http, cluster.ControlPlaneAdminUrl));
            var missing = used.Where(name => !exposed.Contains(name)).Order(StringComparer.Ordinal).ToList();
            Assert.True(missing.Count == 0, $"queried but exposed by neither the agent nor the control plane: {string.Join(", ", missing)}");
        }
        catch
        {
            Console.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>The lb_* names in every query of the dashboard (panels and variables) and of the alert rules.</summary>
    private static HashSet<string> UsedMetricNames()
    {
        var text = File.ReadAllText(Path.Combine(Folder, "lb-dashboard.json")) + "\n" + File.ReadAllText(Path.Combine(Folder, "lb-alerts.yml"));
        return MetricName().Matches(text).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
    }

    private static string Promtool()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var path = Path.Combine(dir, "promtool");
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new InvalidOperationException("promtool is not installed: tests/run.sh installs it (Debian package prometheus)");
    }

    [GeneratedRegex(@"\blb_(agent|controlplane)_[a-z0-9_]+")]
    private static partial Regex MetricName();
}
