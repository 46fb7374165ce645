using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Metrics;

/// <summary>Issue 10 metrics: agent counters move by the right amount for the right pool and backend; the control plane counts pushes.</summary>
public sealed class AgentMetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Metrics_CountRequestsPerBackend_ShowHealthAndRevision()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var one = await cluster.StartBackendAsync("m-1");
            var two = await cluster.StartBackendAsync("m-2");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("measured", extra: "  healthCheck: {type: http, path: /healthz, interval: 2s, timeout: 1500ms, healthyThreshold: 1, unhealthyThreshold: 2}"),
                Yaml.Backend("m-1", "measured", one.Port),
                Yaml.Backend("m-2", "measured", two.Port),
                Yaml.HttpListener("front", "edge", port, "measured")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 4)).Count == 2, TimeSpan.FromSeconds(15), "both backends", cluster.Diagnostics);

            var before = await ScrapeAsync(cluster, agent);
            var counts = await cluster.CountBackendsAsync(url, 20);
            var after = await ScrapeAsync(cluster, agent);
            // Each backend's counter grew by exactly what it answered, zero included: a backend that
            // flapped on a busy machine and answered none of the 20 must show a growth of 0.
            foreach (var backend in new[] { "m-1", "m-2" })
            {
                var key = $"lb_agent_requests_total{{listener=\"front\",pool=\"measured\",backend=\"{backend}\",code=\"2xx\"}}";
                Assert.Equal(counts.GetValueOrDefault(backend), after.GetValueOrDefault(key) - before.GetValueOrDefault(key));
            }
            var answered = counts.Keys.First(k => k.StartsWith("m-", StringComparison.Ordinal));
            Assert.Contains(after.Keys, k => k.StartsWith($"lb_agent_request_duration_seconds_bucket{{pool=\"measured\",backend=\"{answered}\"", StringComparison.Ordinal));
            // Health as a gauge: 1 for the running backend (waited for: a probe may time out under load).
            await Wait.UntilAsync(
                async () => (await ScrapeAsync(cluster, agent)).GetValueOrDefault($"lb_agent_backend_healthy{{pool=\"measured\",backend=\"m-2\",check=\"http\"}}", -5) == 1,
                TimeSpan.FromSeconds(10),
                "the running backend m-2 healthy in the health gauge");
            Assert.True(after["lb_agent_config_revision"] >= 1);

            // The control plane: connected agents, the push of that write to the agent's ACK, API calls.
            Assert.True((await cluster.Http.GetAsync(cluster.ControlPlaneAdminUrl + "/readyz")).IsSuccessStatusCode);
            var plane = await ScrapeAsync(cluster, cluster.ControlPlaneAdminUrl);
            Assert.Equal(1, plane["lb_controlplane_agents_connected{tier=\"edge\"}"]);
            Assert.True(plane["lb_controlplane_push_duration_seconds_count{tier=\"edge\"}"] >= 1, "the push histogram counted the write");
            Assert.True(plane["lb_controlplane_api_calls_total{method=\"Apply\",code=\"OK\"}"] >= 1);
            Assert.True(plane["lb_controlplane_revision"] >= 1);

            // A killed backend shows in the health gauge.
            await two.Process.DisposeAsync();
            await Wait.UntilAsync(
                async () => (await ScrapeAsync(cluster, agent)).GetValueOrDefault($"lb_agent_backend_healthy{{pool=\"measured\",backend=\"m-2\",check=\"http\"}}", -5) == 0,
                TimeSpan.FromSeconds(10),
                "the killed backend in the health gauge");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static Task<Dictionary<string, double>> ScrapeAsync(TestCluster cluster, AgentHandle agent) => ScrapeAsync(cluster, agent.AdminUrl);

    private static Task<Dictionary<string, double>> ScrapeAsync(TestCluster cluster, string adminUrl) => MetricsScrape.ReadAsync(cluster.Http, adminUrl);
}
