using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class RandomLoadBalancerTests
{
    [Theory]
    [InlineData(LoadBalancingAlgorithms.Random)]
    [InlineData(LoadBalancingAlgorithms.PowerOfTwo)]
    public void Pick_ManyPicks_RoughlyUniform(string algorithm)
    {
        var backends = TestPools.Healthy(5);
        var balancer = TestPools.Create(algorithm, backends);

        var counts = TestPools.Count(balancer, 50_000);

        Assert.All(counts.Values, count => Assert.InRange(count, 9_300, 10_700));
    }

    [Fact]
    public void Pick_PowerOfTwo_PrefersFewerInFlight()
    {
        var backends = TestPools.Healthy(2);
        for (var i = 0; i < 5; i++)
        {
            backends[0].Enter();
        }
        var balancer = TestPools.Create(LoadBalancingAlgorithms.PowerOfTwo, backends);

        for (var i = 0; i < 100; i++)
        {
            Assert.Same(backends[1], balancer.Pick(PickContext.None));
        }
    }

    [Fact]
    public void Pick_PowerOfTwoWithRequestsInFlight_EvensOut()
    {
        var backends = TestPools.Healthy(10);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.PowerOfTwo, backends);

        for (var i = 0; i < 1_000; i++)
        {
            balancer.Pick(PickContext.None)!.Enter();
        }

        Assert.All(backends, b => Assert.InRange(b.InFlight, 90, 110));
    }
}
