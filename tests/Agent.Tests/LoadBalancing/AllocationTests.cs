using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Tests.Support;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class AllocationTests
{
    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_AfterWarmUp_AllocatesNothing(string algorithm)
    {
        var backends = TestPools.Weighted([3, 1, 2, 5, 1, 1, 4, 2]);
        backends[2].Health = BackendHealth.Unhealthy;
        backends[5].AdminState = BackendAdminState.Draining;
        var balancer = TestPools.Create(algorithm, backends);
        var failOpenPool = TestPools.Healthy(3);
        foreach (var backend in failOpenPool)
        {
            backend.Health = BackendHealth.Unhealthy;
        }
        var failOpen = TestPools.Create(algorithm, failOpenPool);

        PickMany(balancer, failOpen, 1_000);

        Assert.Equal(0, Allocations.LeastOf(() => PickMany(balancer, failOpen, 10_000)));
    }

    [Theory]
    [InlineData(LoadBalancingAlgorithms.LeastConnections)]
    [InlineData(LoadBalancingAlgorithms.WeightedLeastConnections)]
    public void Pick_LargePoolAfterWarmUp_AllocatesNothing(string algorithm)
    {
        // Past the exact-scan size a pick samples; a pool that is all unhealthy also runs the
        // fallback scan before failing open.
        var backends = TestPools.Weighted(Enumerable.Range(0, 1_000).Select(i => 1 + (i % 5)).ToArray());
        for (var i = 0; i < backends.Length; i += 3)
        {
            backends[i].Health = BackendHealth.Unhealthy;
        }
        var balancer = TestPools.Create(algorithm, backends);
        var failOpenPool = TestPools.Healthy(100);
        foreach (var backend in failOpenPool)
        {
            backend.Health = BackendHealth.Unhealthy;
        }
        var failOpen = TestPools.Create(algorithm, failOpenPool);

        PickMany(balancer, failOpen, 1_000);

        Assert.Equal(0, Allocations.LeastOf(() => PickMany(balancer, failOpen, 10_000)));
    }

    private static void PickMany(ILoadBalancer balancer, ILoadBalancer failOpen, int picks)
    {
        for (var i = 0; i < picks; i++)
        {
            var context = i % 3 == 0 ? PickContext.None : new PickContext((ulong)i * 2654435761UL);
            var picked = balancer.Pick(in context)!;
            picked.Enter();
            picked.RecordLatency(TimeSpan.FromMicroseconds(50 + (i % 7)));
            picked.Leave();
            failOpen.Pick(in context, out _);
        }
    }
}
