using System.Diagnostics;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tests.Support;
using LoadBalancer.Testing;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

/// <summary>Cluster warming: a new pool takes traffic once every backend has a first health result (or a bound passed).</summary>
public sealed class PoolWarmingTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private InProcessAgent _agent = null!;
    private TestHttpBackend _quick = null!;
    private TestHttpBackend _slow = null!;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("internal");
        _quick = await TestHttpBackend.StartAsync("quick");
        _slow = await TestHttpBackend.StartAsync("slow");
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _quick.DisposeAsync();
        await _slow.DisposeAsync();
    }

    [Fact]
    public async Task NewPool_RequestsMadeBeforeTheSecondBackendsFirstResult_AreSpreadOverBoth()
    {
        // Both hold every answer (probes too), the slow one longer: its first result comes well
        // after the quick one's, which alone took every request opened meanwhile before warming.
        _quick.Delay = TimeSpan.FromMilliseconds(300);
        _slow.Delay = TimeSpan.FromMilliseconds(1500);
        var port = Ports.Free();
        var check = HttpCheck(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(3));
        var pool = Pool("api", [Backend("quick", _quick.Port), Backend("slow", _slow.Port)], check, algorithm: "least-connections");
        var outcome = (await _agent.ApplyAsync([Http("front", port, Route("api"))], [pool])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);

        await Eventually.TrueAsync(() => !_quick.Answers.IsEmpty, Wait, "the quick backend's first probe");
        Assert.True(_slow.Answers.IsEmpty, "the slow backend answered its first probe already; the test needs it pending");

        using var client = new HttpClient { Timeout = Wait };
        var watch = Stopwatch.StartNew();
        var bodies = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetStringAsync($"http://127.0.0.1:{port}/")));

        var counts = bodies.GroupBy(b => b).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(counts.GetValueOrDefault("quick") >= 3 && counts.GetValueOrDefault("slow") >= 3,
            $"10 requests right after the pool was applied: {string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"))}");
        // Held at most for the warming bound (first-probe window + timeout), not an interval.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(6), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task NewPool_ABackendThatNeverAnswersItsProbe_HoldsTrafficOnlyForTheBound()
    {
        _slow.Delay = TimeSpan.FromSeconds(5);
        var port = Ports.Free();
        var check = HttpCheck(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        var pool = Pool("api", [Backend("quick", _quick.Port), Backend("slow", _slow.Port)], check, algorithm: "least-connections");
        var outcome = (await _agent.ApplyAsync([Http("front", port, Route("api"))], [pool])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);

        using var client = new HttpClient { Timeout = Wait };
        var watch = Stopwatch.StartNew();
        var body = await client.GetStringAsync($"http://127.0.0.1:{port}/");

        // 500 ms first-probe window + 1 s timeout + 250 ms: the probe's timeout marks it unhealthy
        // (a first result) or the bound passes; either way the quick one serves.
        Assert.Equal("quick", body);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"held {watch.Elapsed}");
    }

    [Fact]
    public void WarmingBound_IsTheFirstProbeWindowPlusOneTimeout_AtMostFiveSeconds()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(500 + 1000 + 250), LoadBalancer.Agent.Health.HealthMonitor.WarmingBound(HttpCheck(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)), 2));
        Assert.Equal(TimeSpan.FromSeconds(5), LoadBalancer.Agent.Health.HealthMonitor.WarmingBound(HttpCheck(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(30)), 2));
    }

    [Fact]
    public void PoolWithoutActiveCheck_IsWarmAtOnce()
    {
        var registry = new PoolRegistry(new BackendActivity(), Microsoft.Extensions.Logging.Abstractions.NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        registry.Apply([Pool("p", [Backend("b", 1)])]);
        Assert.True(registry.Find("p")!.Warming.IsWarm);
        registry.Apply([Pool("q", [Backend("b", 1)], HttpCheck(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)))]);
        Assert.False(registry.Find("q")!.Warming.IsWarm);
    }
}
