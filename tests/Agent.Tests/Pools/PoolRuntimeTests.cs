using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

public sealed class PoolRuntimeTests
{
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
            Assert.Same(pool.Backends[0], pool.PickAvoiding(pool.Balancer, PickContext.None, dead, out _));
        }
    }

    [Fact]
    public void PickAndEnter_EveryBackendFull_ReturnsNull_AndLeavesCountsAsTheyWere()
    {
        var registry = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        registry.Apply([Pool("full", [Backend("a", 9001), Backend("b", 9002)]) with { MaxConnectionsPerBackend = 1 }]);
        var pool = registry.Find("full")!;
        Assert.NotNull(pool.PickAndEnter(pool.Balancer, PickContext.None, null, null, out _));
        Assert.NotNull(pool.PickAndEnter(pool.Balancer, PickContext.None, null, null, out _));

        Assert.Null(pool.PickAndEnter(pool.Balancer, PickContext.None, null, null, out _));
        Assert.All(pool.Backends, b => Assert.Equal(1, b.InFlight));
    }
}
