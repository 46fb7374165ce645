using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Metrics;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

public sealed class PoolRuntimeTests
{
    private static PoolRegistry NewRegistry() => new(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);

    private static FailedBackends Failed(params BackendState[] backends)
    {
        var failed = default(FailedBackends);
        foreach (var backend in backends)
        {
            failed.Add(backend);
        }
        return failed;
    }

    [Fact]
    public void PickAvoiding_LeastConnectionsKeepsChoosingTheFailedBackend_AnotherIsReturned()
    {
        var registry = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        registry.Apply([Pool("db", [Backend("a", 5433), Backend("b", 5434)], algorithm: LoadBalancingAlgorithms.LeastConnections)]);
        var pool = registry.Find("db")!;
        var dead = pool.Backends[1];
        // The other backend is busy, so least-connections always prefers the dead, idle one.
        for (var i = 0; i < 5; i++)
        {
            pool.Backends[0].Enter();
        }

        for (var i = 0; i < 50; i++)
        {
            Assert.Same(pool.Backends[0], pool.PickAvoiding(pool.Balancer, PickContext.None, Failed(dead), out _));
        }
    }

    [Fact]
    public void PickAndEnter_EveryBackendFull_ReturnsNull_AndLeavesCountsAsTheyWere()
    {
        var registry = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        registry.Apply([Pool("full", [Backend("a", 9001), Backend("b", 9002)]) with { MaxConnectionsPerBackend = 1 }]);
        var pool = registry.Find("full")!;
        Assert.NotNull(pool.PickAndEnter(pool.Balancer, PickContext.None, default, null, out _));
        Assert.NotNull(pool.PickAndEnter(pool.Balancer, PickContext.None, default, null, out _));

        Assert.Null(pool.PickAndEnter(pool.Balancer, PickContext.None, default, null, out _));
        Assert.All(pool.Backends, b => Assert.Equal(1, b.InFlight));
    }

    [Fact]
    public void PickAndEnter_TwoBackendsAlreadyFailed_BothAreAvoided()
    {
        var registry = NewRegistry();
        registry.Apply([Pool("web", [Backend("a", 9001), Backend("b", 9002), Backend("c", 9003)])]);
        var pool = registry.Find("web")!;
        var failed = Failed(pool.Backends[0], pool.Backends[1]);

        // Round-robin would hand out a and b two times in three; only c may come back.
        for (var i = 0; i < 30; i++)
        {
            var picked = pool.PickAndEnter(pool.Balancer, PickContext.None, failed, preferred: pool.Backends[0], out _);
            Assert.Same(pool.Backends[2], picked);
            picked!.Leave();
        }
    }

    [Fact]
    public void FailedBackends_AddsEachBackendOnce_AndFindsOnlyThoseAdded()
    {
        var a = new BackendState("p", "a", "127.0.0.1", 1);
        var b = new BackendState("p", "b", "127.0.0.1", 2);
        var c = new BackendState("p", "c", "127.0.0.1", 3);
        var failed = default(FailedBackends);
        Assert.True(failed.IsEmpty);
        Assert.False(failed.Contains(a));

        failed.Add(a);
        failed.Add(b);
        failed.Add(a);

        Assert.Equal(2, failed.Count);
        Assert.True(failed.Contains(a));
        Assert.True(failed.Contains(b));
        Assert.False(failed.Contains(c));
    }

    [Theory]
    [InlineData("header")]
    [InlineData("source-ip")]
    public void StickyOwner_DrainingOwner_KeepsItsKeysUntilDrainTimeout_ThenTheyMove(string type)
    {
        var backends = new[] { Backend("a", 9001), Backend("b", 9002), Backend("c", 9003) };
        var persistence = new SessionPersistenceConfig(type, string.Empty, "X-Session", TimeSpan.FromHours(1), EquatableArray<byte>.Empty);
        var registry = NewRegistry();
        registry.Apply([Pool("web", backends) with { SessionPersistence = persistence }]);
        var key = new PickContext(StableHash.Hash("session-42".AsSpan()));
        var owner = registry.Find("web")!.StickyOwner(key)!;
        Assert.NotNull(owner);

        // Draining with a long drainTimeout: the key still goes to its owner, not elsewhere.
        var draining = backends.Select(b => b.Name == owner.Name ? b with { State = "draining" } : b).ToArray();
        registry.Apply([Pool("web", draining, drainTimeout: TimeSpan.FromMinutes(5)) with { SessionPersistence = persistence }]);
        var pool = registry.Find("web")!;
        Assert.Same(owner, pool.StickyOwner(key));
        var picked = pool.PickAndEnter(pool.StickyBalancer!, key, default, pool.StickyOwner(key), out _);
        Assert.Same(owner, picked);

        // Once the drain deadline has passed the owner takes the key no more.
        owner.DrainDeadline = Environment.TickCount64 - 1;
        Assert.Null(pool.StickyOwner(key));
        var moved = pool.PickAndEnter(pool.StickyBalancer!, key, default, pool.StickyOwner(key), out _);
        Assert.NotNull(moved);
        Assert.NotSame(owner, moved);
    }

    [Fact]
    public void StickyOwner_SourceIp_SameAddressSameBackend_OnEveryAgent()
    {
        var persistence = new SessionPersistenceConfig("source-ip", string.Empty, string.Empty, TimeSpan.FromHours(1), EquatableArray<byte>.Empty);
        var config = Pool("db", [Backend("a", 5433), Backend("b", 5434), Backend("c", 5435)]) with { Protocol = "tcp", SessionPersistence = persistence };
        // Two registries stand for two agents of one tier: nothing shared but the config.
        var first = NewRegistry();
        var second = NewRegistry();
        first.Apply([config]);
        second.Apply([config]);
        var owners = new HashSet<string>();
        for (var i = 1; i <= 50; i++)
        {
            var key = LoadBalancer.Agent.Proxy.HttpHashKeys.ForAddress(System.Net.IPAddress.Parse($"10.0.0.{i}"));
            var one = first.Find("db")!.StickyOwner(key)!.Name;
            Assert.Equal(one, first.Find("db")!.StickyOwner(key)!.Name);
            Assert.Equal(one, second.Find("db")!.StickyOwner(key)!.Name);
            owners.Add(one);
        }
        // The addresses spread: persistence is not "everything on one backend".
        Assert.True(owners.Count > 1);
    }

    [Fact]
    public void NoteFailOpen_ReportsOnlyTransitions_AndSurvivesAConfigChange()
    {
        var registry = NewRegistry();
        registry.Apply([Pool("web", [Backend("a", 9001)])]);
        var pool = registry.Find("web")!;

        Assert.False(pool.NoteFailOpen(false));
        Assert.True(pool.NoteFailOpen(true));
        Assert.False(pool.NoteFailOpen(true));
        Assert.True(pool.IsFailingOpen);

        registry.Apply([Pool("web", [Backend("a", 9001)], retries: 2)]);
        var changed = registry.Find("web")!;
        Assert.NotSame(pool, changed);
        Assert.False(changed.NoteFailOpen(true));
        Assert.True(changed.NoteFailOpen(false));
        Assert.False(changed.NoteFailOpen(false));
    }

    [Fact]
    public void FailOpenLog_LogsOncePerTransition_CountsEveryFailOpenPick()
    {
        var registry = NewRegistry();
        registry.Apply([Pool("web", [Backend("a", 9001)])]);
        var pool = registry.Find("web")!;
        var metrics = new AgentMetrics(Prometheus.Metrics.NewCustomRegistry());
        var logger = new ListLogger<PoolRuntimeTests>();

        foreach (var failedOpen in new[] { true, true, true, false, false, true })
        {
            FailOpenLog.Note(pool, failedOpen, metrics, logger);
        }

        Assert.Equal([3003, 3004, 3003], logger.Entries.Select(e => e.EventId));
        Assert.Equal(4, metrics.FailOpen.WithLabels("web").Value);
    }

    [Fact]
    public void PickAndEnter_NoOrOneFailedBackend_AllocatesNothing()
    {
        var persistence = new SessionPersistenceConfig("header", string.Empty, "X-Session", TimeSpan.FromHours(1), EquatableArray<byte>.Empty);
        var registry = NewRegistry();
        registry.Apply([Pool("web", [Backend("a", 9001), Backend("b", 9002), Backend("c", 9003)]) with { SessionPersistence = persistence }]);
        var pool = registry.Find("web")!;
        var key = new PickContext(42);
        var oneFailed = Failed(pool.Backends[0]);

        void PickMany(int count)
        {
            for (var i = 0; i < count; i++)
            {
                pool.PickAndEnter(pool.Balancer, PickContext.None, default, null, out var failedOpen)!.Leave();
                pool.NoteFailOpen(failedOpen);
                pool.PickAndEnter(pool.StickyBalancer!, key, oneFailed, pool.StickyOwner(key), out _)!.Leave();
            }
        }

        PickMany(1_000);

        Assert.Equal(0, Allocations.LeastOf(() => PickMany(10_000)));
    }
}
