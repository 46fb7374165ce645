using System.Diagnostics;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Events;

/// <summary>
/// Issue 10's events end to end: a killed backend, its recovery, a drain and a stopped agent
/// each become one event (a SIGTERMed agent disconnects cleanly, a killed one is lost), shown by <c>lbctl events</c> with the agent that saw it and why.
/// </summary>
public sealed class EventsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    // Health summaries (which carry the in-flight counts a drain waits for) come every 10 s.
    private static readonly TimeSpan DrainReported = TimeSpan.FromSeconds(30);

    // A generous timeout: on a loaded machine a check timing out at start would add events of its own.
    private const string Check = "  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 800ms, healthyThreshold: 2, unhealthyThreshold: 2}";

    [Fact]
    public async Task KilledBackend_Recovery_Drain_AndStoppedAgent_AreEvents_ShownByLbctl()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            using var channel = cluster.CreateChannel();
            var events = new Api.V1.Events.EventsClient(TestCluster.WithToken(channel, () => File.ReadAllText(cluster.AdminTokenFile).Trim()));
            var backends = new[] { await cluster.StartBackendAsync("ev-1"), await cluster.StartBackendAsync("ev-2") };
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("evs", extra: Check),
                Yaml.Backend("ev-1", "evs", backends[0].Port),
                Yaml.Backend("ev-2", "evs", backends[1].Port),
                Yaml.HttpListener("evs", "edge", port, "evs")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            await WaitForEventAsync(cluster, events, "AgentConnected", "edge-1");
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetBackendAsync(new GetRequest { Name = "ev-1" })).Status.Agents.Any(a => a.State == "healthy"),
                Propagation,
                "ev-1 to be healthy",
                cluster.Diagnostics);

            var before = (await events.ListEventsAsync(new ListEventsRequest { Limit = 1 })).Items.Single().Id;
            await backends[0].Process.DisposeAsync();
            var unhealthy = await WaitForEventAsync(cluster, events, "BackendUnhealthy", "ev-1", afterId: before);
            Assert.Equal(("Warning", "edge-1"), (unhealthy.Type, unhealthy.Agent));
            Assert.StartsWith("Unhealthy in pool evs: ", unhealthy.Message, StringComparison.Ordinal);
            Assert.True(unhealthy.Message.Length > "Unhealthy in pool evs: ".Length, "the agent's reason is in the message");
            var table = await cluster.LbctlAsync("events", "--kind", "backend", "--name", "ev-1");
            Assert.True(table.ExitCode == 0, table.ToString());
            Assert.StartsWith("LAST SEEN", table.Stdout, StringComparison.Ordinal);
            Assert.Contains(Row(table, "BackendUnhealthy"), l => l.Contains("Warning", StringComparison.Ordinal)
                && l.Contains("backend/ev-1", StringComparison.Ordinal) && l.Contains("edge-1", StringComparison.Ordinal)
                && l.Contains(unhealthy.Message, StringComparison.Ordinal));

            await cluster.StartBackendOnAsync("ev-1", backends[0].Port);
            var healthy = await WaitForEventAsync(cluster, events, "BackendHealthy", "ev-1", afterId: unhealthy.Id);
            Assert.Equal(("Normal", "edge-1"), (healthy.Type, healthy.Agent));
            Assert.Contains(Row(await cluster.LbctlAsync("events", "--name", "ev-1"), "BackendHealthy"), l => l.Contains("Normal", StringComparison.Ordinal));

            var drain = await cluster.LbctlAsync("backend", "drain", "ev-2");
            Assert.True(drain.ExitCode == 0, drain.ToString());
            var drained = await WaitForEventAsync(cluster, events, "DrainFinished", "ev-2", timeout: DrainReported);
            Assert.Contains("tier edge", drained.Message, StringComparison.Ordinal);
            Assert.Contains(Row(await cluster.LbctlAsync("events", "--kind", "backends", "--name", "ev-2"), "DrainFinished"), l => l.Contains("backend/ev-2", StringComparison.Ordinal));

            // SIGTERM: the agent says Goodbye and half-closes, a clean disconnect (Normal).
            var stopped = Stopwatch.StartNew();
            Assert.True(await agent.Process.TerminateAsync(TimeSpan.FromSeconds(20)), "agent exits on SIGTERM");
            output.WriteLine($"agent exited {stopped.ElapsedMilliseconds} ms after SIGTERM");
            var disconnected = await WaitForEventAsync(cluster, events, "AgentDisconnected", "edge-1");
            Assert.Equal("Normal", disconnected.Type);
            Assert.Contains("shutting down", disconnected.Message, StringComparison.Ordinal);
            var normal = await cluster.LbctlAsync("events", "--agent", "edge-1", "--type", "normal");
            Assert.Contains(Row(normal, "AgentDisconnected"), l => l.Contains("agent/edge-1", StringComparison.Ordinal));

            // kill -9: no Goodbye, the connection just drops: the agent is lost (Warning).
            var again = await cluster.StartAgentAsync("edge", "edge-1");
            var reconnected = await WaitForEventAsync(cluster, events, "AgentConnected", "edge-1", afterId: disconnected.Id);
            again.Process.Kill();
            var lost = await WaitForEventAsync(cluster, events, "AgentLost", "edge-1", afterId: reconnected.Id);
            Assert.Equal("Warning", lost.Type);
            var warnings = await cluster.LbctlAsync("events", "--agent", "edge-1", "--type", "warning");
            Assert.Contains(Row(warnings, "AgentLost"), l => l.Contains("agent/edge-1", StringComparison.Ordinal));
            Assert.DoesNotContain("AgentDisconnected", warnings.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("Normal", warnings.Stdout, StringComparison.Ordinal);

            // Transitions only: the health summaries every 10 s repeat states, yet a backend's
            // events alternate (never unhealthy twice in a row), and the drain finished once.
            var all = await events.ListEventsAsync(new ListEventsRequest { Limit = 1000 });
            output.WriteLine(string.Join("\n", all.Items.Select(e => $"{e.Id} {e.Type} {e.Reason} {e.Kind}/{e.Name} {e.Agent} x{e.Count}: {e.Message}")));
            foreach (var backend in all.Items.Where(e => e.Reason is "BackendUnhealthy" or "BackendHealthy").GroupBy(e => (e.Name, e.Agent)))
            {
                var reasons = backend.Select(e => e.Reason).ToList();
                Assert.True(reasons.Zip(reasons.Skip(1)).All(p => p.First != p.Second), $"{backend.Key}: {string.Join(", ", reasons)}");
            }
            Assert.Single(all.Items, e => e.Reason == "DrainFinished");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static IEnumerable<string> Row(CommandResult result, string reason)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Stdout.Split('\n').Where(l => l.Contains(reason, StringComparison.Ordinal));
    }

    private static async Task<Event> WaitForEventAsync(TestCluster cluster, Api.V1.Events.EventsClient events, string reason, string name, long afterId = 0, TimeSpan? timeout = null)
    {
        Event? found = null;
        await Wait.UntilAsync(
            async () =>
            {
                var list = await events.ListEventsAsync(new ListEventsRequest { Name = name, AfterId = afterId, Limit = 1000 });
                found = list.Items.LastOrDefault(e => e.Reason == reason);
                return found is not null;
            },
            timeout ?? Propagation,
            $"a {reason} event for {name}",
            cluster.Diagnostics);
        return found!;
    }
}
