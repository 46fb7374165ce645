using System.Net;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Health;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Proxy;

/// <summary>
/// Passive health where it runs: real requests through a real agent, answered 5xx or failing on
/// the connection, eject their backend for ejectionTime; nothing calls the health monitor directly.
/// </summary>
public sealed class PassiveHealthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task FiveHundreds_ThroughTheAgent_EjectTheBackend_AfterConsecutiveFailures()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var bad = await StatusBackend.StartAsync("bad-1");
        await using var good = await StatusBackend.StartAsync("good-1");
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("flaky", extra: "  passiveHealth: {consecutiveFailures: 3, ejectionTime: 60s}\n  retries: 0"),
                Yaml.Backend("bad-1", "flaky", bad.Port),
                Yaml.Backend("good-1", "flaky", good.Port),
                Yaml.HttpListener("flaky", "edge", port, "flaky")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            // Both answer 200 first: a success keeps a backend's failure count at zero.
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 4)).Count == 2, Propagation, "both backends to serve", cluster.Diagnostics);

            // Round-robin alternates: of six requests bad-1 gets three, answered 500 to the client
            // (a 5xx is an answer, not retried), and those three in a row eject it.
            bad.Status = 500;
            var answers = new List<(HttpStatusCode Status, string Backend)>();
            for (var i = 0; i < 6; i++)
            {
                using var response = await client.GetAsync(url);
                answers.Add((response.StatusCode, response.Headers.GetValues("X-Backend").Single()));
            }
            output.WriteLine(string.Join(", ", answers.Select(a => $"{(int)a.Status} {a.Backend}")));
            Assert.Equal(3, answers.Count(a => a == (HttpStatusCode.InternalServerError, "bad-1")));
            Assert.Equal(3, answers.Count(a => a == (HttpStatusCode.OK, "good-1")));

            await Wait.UntilAsync(async () => await PassiveGaugeAsync(cluster, agent, "flaky", "bad-1") == 0, Propagation, "the agent to eject bad-1", cluster.Diagnostics);
            Assert.Equal(1, await PassiveGaugeAsync(cluster, agent, "flaky", "good-1"));
            var reason = await AgentReasonAsync(cluster, "bad-1", "unhealthy");
            Assert.Equal("passive: 3 consecutive failures (status 500)", reason);

            // Ejected: nothing reaches it while every request is answered by the other.
            var reached = bad.Requests;
            for (var i = 0; i < 20; i++)
            {
                using var response = await client.GetAsync(url);
                Assert.Equal((HttpStatusCode.OK, "good-1"), (response.StatusCode, response.Headers.GetValues("X-Backend").Single()));
            }
            Assert.Equal(reached, bad.Requests);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task ConnectionErrors_ThroughTheAgent_EjectTheBackend_ResetAndRefusedAlike()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var resetter = ResettingBackend.Start();
        await using var good = await StatusBackend.StartAsync("good-1");
        using var refusing = Ports.Refusing();
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("broken", extra: "  passiveHealth: {consecutiveFailures: 2, ejectionTime: 60s}\n  retries: 0"),
                Yaml.Backend("reset-1", "broken", resetter.Port),
                Yaml.Backend("refused-1", "broken", refusing.Port),
                Yaml.Backend("good-1", "broken", good.Port),
                Yaml.HttpListener("broken", "edge", port, "broken")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";

            // Without retries the failures reach the client as 502: keep sending until both
            // failing backends are ejected (two failures each, in turn with the good one).
            var failures = 0;
            await Wait.UntilAsync(
                async () =>
                {
                    using var response = await client.GetAsync(url);
                    if (response.StatusCode == HttpStatusCode.BadGateway)
                    {
                        failures++;
                    }
                    return await PassiveGaugeAsync(cluster, agent, "broken", "reset-1") == 0
                        && await PassiveGaugeAsync(cluster, agent, "broken", "refused-1") == 0;
                },
                Propagation,
                "the agent to eject the resetting and the refusing backend",
                cluster.Diagnostics);
            output.WriteLine($"502 answers before both were ejected: {failures}");
            Assert.Equal(4, failures);
            Assert.True(resetter.Requests >= 2, $"the resetting backend saw {resetter.Requests} requests");
            Assert.StartsWith("passive: 2 consecutive failures", await AgentReasonAsync(cluster, "reset-1", "unhealthy"), StringComparison.Ordinal);
            Assert.StartsWith("passive: 2 consecutive failures", await AgentReasonAsync(cluster, "refused-1", "unhealthy"), StringComparison.Ordinal);

            // Ejected: every request is answered by the good backend, none reaches the resetter.
            var reached = resetter.Requests;
            for (var i = 0; i < 20; i++)
            {
                using var response = await client.GetAsync(url);
                Assert.Equal((HttpStatusCode.OK, "good-1"), (response.StatusCode, response.Headers.GetValues("X-Backend").Single()));
            }
            Assert.Equal(reached, resetter.Requests);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>The agent's health gauge of a backend in a pool with passive checks only (null when absent).</summary>
    private static async Task<double?> PassiveGaugeAsync(TestCluster cluster, AgentHandle agent, string pool, string backend) =>
        (await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl)).TryGetValue($"lb_agent_backend_healthy{{pool=\"{pool}\",backend=\"{backend}\",check=\"passive\"}}", out var value) ? value : null;

    /// <summary>The reason the one agent reported for <paramref name="backend"/>, once it reports <paramref name="state"/>.</summary>
    private static async Task<string> AgentReasonAsync(TestCluster cluster, string backend, string state)
    {
        Backend? last = null;
        await Wait.UntilAsync(
            async () =>
            {
                last = await cluster.Management.GetBackendAsync(new GetRequest { Name = backend });
                return last.Status.Agents.Count == 1 && last.Status.Agents[0].State == state;
            },
            Propagation,
            $"{backend} to be reported {state}",
            () => last?.ToString() ?? "");
        return last!.Status.Agents[0].Reason;
    }
}
