using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class RoundRobinLoadBalancerTests
{
    [Fact]
    public void Pick_AllHealthy_VisitsEachInTurn()
    {
        var backends = TestPools.Healthy(3);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);

        var sequence = Enumerable.Range(0, 6).Select(_ => balancer.Pick(PickContext.None)!.Name).ToArray();

        Assert.Equal(["b0", "b1", "b2", "b0", "b1", "b2"], sequence);
    }

    [Fact]
    public void Pick_OneUnhealthy_SkipsIt()
    {
        var backends = TestPools.Healthy(3);
        backends[1].Health = BackendHealth.Unhealthy;
        var balancer = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);

        var counts = TestPools.Count(balancer, 3_000);

        // The skipped turn is not handed to the next backend, which would then get a double share.
        Assert.Equal(0, counts[backends[1]]);
        Assert.InRange(counts[backends[0]], 1_350, 1_650);
        Assert.Equal(3_000, counts[backends[0]] + counts[backends[2]]);
    }
}
