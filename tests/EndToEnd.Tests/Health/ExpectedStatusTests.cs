using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.Proxy;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Health;

/// <summary>A health check's custom expectedStatus where it runs: the agent's probes of a real backend.</summary>
public sealed class ExpectedStatusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task CustomExpectedStatus_DecidesHealth_CodesAndRangeBoundsIncluded_DefaultRangeNot()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var backend = await StatusBackend.StartAsync("odd-1");
        try
        {
            var agent = await cluster.StartAgentAsync("internal", "int-1");
            var port = Ports.Free();
            // 418 and 500-502 are healthy here, and nothing else: not even 200.
            backend.HealthStatus = 418;
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("odd", extra: """
                      healthCheck:
                        type: http
                        path: /healthz
                        interval: 500ms
                        timeout: 400ms
                        healthyThreshold: 1
                        unhealthyThreshold: 1
                        expectedStatus: "418,500-502"
                    """),
                Yaml.Backend("odd-1", "odd", backend.Port),
                Yaml.HttpListener("odd", "internal", port, "odd")))).ExitCode);

            foreach (var (status, healthy) in new[] { (418, true), (200, false), (500, true), (503, false), (502, true), (499, false), (501, true) })
            {
                backend.HealthStatus = status;
                var state = healthy ? "healthy" : "unhealthy";
                await Wait.UntilAsync(
                    async () => (await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl)).GetValueOrDefault("lb_agent_backend_healthy{pool=\"odd\",backend=\"odd-1\",check=\"http\"}", -5) == (healthy ? 1 : 0),
                    Propagation,
                    $"a health answer {status} to make odd-1 {state}",
                    cluster.Diagnostics);
                var reported = await ReportedAsync(cluster, state);
                output.WriteLine($"health answer {status}: {reported.State} ({reported.Reason})");
                Assert.Equal($"status {status}", reported.Reason);
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<BackendAgentHealth> ReportedAsync(TestCluster cluster, string state)
    {
        Backend? last = null;
        await Wait.UntilAsync(
            async () =>
            {
                last = await cluster.Management.GetBackendAsync(new GetRequest { Name = "odd-1" });
                return last.Status.Agents.Count == 1 && last.Status.Agents[0].State == state;
            },
            Propagation,
            $"odd-1 to be reported {state}",
            () => last?.ToString() ?? "");
        return last!.Status.Agents[0];
    }
}
