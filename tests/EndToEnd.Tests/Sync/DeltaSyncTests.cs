using System.Security.Cryptography;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Sync;

/// <summary>
/// Issue 19: a change reaches a connected agent as a delta, a real lb-agent applies it (traffic
/// follows, the cache holds the whole resulting snapshot), and an agent that comes back holding
/// another revision than the delta's base gets the whole snapshot.
/// </summary>
public sealed class DeltaSyncTests(ITestOutputHelper output)
{
    private const string Tier = "edge";
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    private static async Task<(string Url, BackendHandle[] Backends)> SetUpAsync(TestCluster cluster)
    {
        var backends = new[] { await cluster.StartBackendAsync("d-1"), await cluster.StartBackendAsync("d-2"), await cluster.StartBackendAsync("d-3") };
        var port = Ports.Free();
        Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
            Yaml.Pool("deltas"),
            Yaml.Backend("d-1", "deltas", backends[0].Port),
            Yaml.Backend("d-2", "deltas", backends[1].Port),
            Yaml.Backend("d-3", "deltas", backends[2].Port),
            Yaml.HttpListener("deltas", Tier, port, "deltas")))).ExitCode);
        var url = $"http://127.0.0.1:{port}/";
        await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 12)).Count == 3, Propagation, "all three backends to answer", cluster.Diagnostics);
        return (url, backends);
    }

    private static async Task<(double Snapshots, double Deltas, double Failures, double Revision)> AgentFiguresAsync(TestCluster cluster, AgentHandle agent)
    {
        var metrics = await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl);
        var failures = metrics.Where(m => m.Key.StartsWith("lb_agent_config_delta_failures_total", StringComparison.Ordinal)).Sum(m => m.Value);
        return (metrics.GetValueOrDefault("lb_agent_config_snapshots_total"), metrics.GetValueOrDefault("lb_agent_config_deltas_total"), failures, metrics["lb_agent_config_revision"]);
    }

    private static async Task<long> TierRevisionAsync(TestCluster cluster) =>
        (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Tiers.Single(t => t.Tier == Tier).Revision;

    [Fact]
    public async Task OneBackendChange_ArrivesAsADelta_TrafficFollows_AndTheCacheHoldsTheWholeSnapshot()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var agent = await cluster.StartAgentAsync(Tier, "delta-1");
            var (url, backends) = await SetUpAsync(cluster);
            var before = await AgentFiguresAsync(cluster, agent);
            output.WriteLine($"before: {before}");

            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("d-3", "deltas", backends[2].Port, state: "disabled"))).ExitCode);
            await Wait.UntilAsync(async () => (await AgentFiguresAsync(cluster, agent)).Revision > before.Revision, Propagation, "the change to be applied", cluster.Diagnostics);
            var counts = await cluster.CountBackendsAsync(url, 30);
            output.WriteLine(string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}")));
            Assert.Equal(["d-1", "d-2"], counts.Keys.Order(StringComparer.Ordinal));

            var after = await AgentFiguresAsync(cluster, agent);
            output.WriteLine($"after: {after}");
            Assert.Equal(before.Deltas + 1, after.Deltas);
            Assert.Equal(before.Snapshots, after.Snapshots);
            Assert.Equal(0, after.Failures);
            var controlPlane = await MetricsScrape.ReadAsync(cluster.Http, cluster.ControlPlaneAdminUrl);
            Assert.True(controlPlane.GetValueOrDefault($"lb_controlplane_sync_messages_sent_total{{tier=\"{Tier}\",kind=\"delta\"}}") >= 1, "the control plane counts no delta sent");

            // The cache keeps the whole snapshot the delta led to, under the control plane's hash.
            var cacheDirectory = Path.Combine(cluster.Root, "cache-delta-1");
            await Wait.UntilAsync(() => AgentCache.TryRead(cacheDirectory)?.Revision == (long)after.Revision, Propagation, "the new revision to be cached", cluster.Diagnostics);
            var cached = AgentCache.Read(cacheDirectory);
            Assert.Equal(cached.Hash, Convert.ToHexStringLower(SHA256.HashData(cached.Payload.Span)));
            Assert.Equal("disabled", SnapshotData.Parser.ParseFrom(cached.Payload).Pools.Single().Backends.Single(b => b.Name == "d-3").State);
            var agentView = await cluster.Management.GetAgentAsync(new GetRequest { Name = "delta-1" });
            Assert.Equal((long)after.Revision, agentView.Status.AppliedRevision);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task AgentRestartedFromCache_HoldingAnotherRevision_GetsTheWholeSnapshot_ThenDeltas()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var agent = await cluster.StartAgentAsync(Tier, "restart-1");
            var (url, backends) = await SetUpAsync(cluster);
            var cacheDirectory = Path.Combine(cluster.Root, "cache-restart-1");
            var served = (long)(await AgentFiguresAsync(cluster, agent)).Revision;
            await Wait.UntilAsync(() => AgentCache.TryRead(cacheDirectory)?.Revision == served, Propagation, "the snapshot to be cached", cluster.Diagnostics);
            agent.Process.Kill();

            // Two changes while it is away: the newest delta's base is a revision the agent never had.
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("d-3", "deltas", backends[2].Port, state: "disabled"))).ExitCode);
            // Published on its own (not coalesced with the next write), so the next delta's base is this one.
            await Wait.UntilAsync(async () => await TierRevisionAsync(cluster) > served, Propagation, "the first change to be published", cluster.Diagnostics);
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("d-2", "deltas", backends[1].Port, state: "disabled"))).ExitCode);
            var restarted = await cluster.StartAgentAsync(Tier, "restart-1");
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 10)).Keys.SequenceEqual(["d-1"]), Propagation, "the restarted agent to take both changes", cluster.Diagnostics);
            var figures = await AgentFiguresAsync(cluster, restarted);
            output.WriteLine($"restarted: {figures}");
            Assert.Equal((1, 0, 0), (figures.Snapshots, figures.Deltas, figures.Failures));

            // Connected and acknowledged: the next change is a delta again.
            await Wait.UntilAsync(async () => (await cluster.Management.GetAgentAsync(new GetRequest { Name = "restart-1" })).Status.AppliedRevision == (long)figures.Revision, Propagation, "the ACK to be recorded", cluster.Diagnostics);
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("d-3", "deltas", backends[2].Port))).ExitCode);
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 12)).Count == 2, Propagation, "d-3 to take traffic again", cluster.Diagnostics);
            figures = await AgentFiguresAsync(cluster, restarted);
            output.WriteLine($"after one more change: {figures}");
            Assert.Equal((1, 1, 0), (figures.Snapshots, figures.Deltas, figures.Failures));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
