using System.Diagnostics;
using System.Net;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Health;

/// <summary>Issue 4 limits: maxConnectionsPerBackend answers 503 at once, requestTimeout 504, connectTimeout.</summary>
public sealed class LimitsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FullBackend_Answers503Quickly_AndSlowBackend_Answers504AfterRequestTimeout()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("lim-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("limited", extra: "  maxConnectionsPerBackend: 1\n  requestTimeout: 1s\n  retries: 0"),
                Yaml.Backend("lim-1", "limited", backend.Port),
                Yaml.HttpListener("limited", "edge", port, "limited")))).ExitCode);
            var baseUrl = $"http://127.0.0.1:{port}";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(baseUrl + "/") == "lim-1", TimeSpan.FromSeconds(15), "the listener", cluster.Diagnostics);
            // The probe requests above must have left the agent's count before the limit is tested.
            await Wait.UntilAsync(
                async () => (await cluster.Http.GetStringAsync(agent.AdminUrl + "/metrics")).Contains("lb_agent_backend_in_flight{pool=\"limited\",backend=\"lim-1\"} 0", StringComparison.Ordinal),
                TimeSpan.FromSeconds(15),
                "no request in flight");

            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            // Two requests at once against a backend allowed one connection: one is served, the
            // other refused at once rather than queued.
            async Task<(HttpStatusCode Status, TimeSpan Took)> TimedAsync()
            {
                var started = Stopwatch.StartNew();
                using var response = await client.GetAsync(baseUrl + "/slow/600");
                return (response.StatusCode, started.Elapsed);
            }
            var results = await Task.WhenAll(TimedAsync(), TimedAsync());
            output.WriteLine(string.Join(", ", results.Select(r => $"{(int)r.Status} in {r.Took.TotalMilliseconds:0} ms")));
            Assert.Single(results, r => r.Status == HttpStatusCode.OK);
            var refused = Assert.Single(results, r => r.Status == HttpStatusCode.ServiceUnavailable);
            Assert.True(refused.Took < TimeSpan.FromMilliseconds(1000), $"503 took {refused.Took.TotalMilliseconds:0} ms");

            var watch = Stopwatch.StartNew();
            using var timedOut = await client.GetAsync(baseUrl + "/slow/5000");
            output.WriteLine($"request timeout answered {(int)timedOut.StatusCode} after {watch.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
            Assert.InRange(watch.Elapsed.TotalSeconds, 0.9, 4);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
