using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class LeastConnectionsLoadBalancerTests
{
    [Fact]
    public void Pick_OneIdleBackend_PrefersIt()
    {
        var backends = TestPools.Healthy(4);
        for (var i = 0; i < 4; i++)
        {
            if (i != 2)
            {
                backends[i].Enter();
            }
        }
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastConnections, backends);

        for (var i = 0; i < 100; i++)
        {
            Assert.Same(backends[2], balancer.Pick(PickContext.None));
        }
    }

    [Fact]
    public void Pick_AllIdle_BreaksTiesAcrossBackends()
    {
        var backends = TestPools.Healthy(4);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastConnections, backends);

        var counts = TestPools.Count(balancer, 4_000);

        Assert.All(counts.Values, count => Assert.InRange(count, 800, 1_200));
    }

    [Fact]
    public void Pick_RequestsThatStayInFlight_EvenOut()
    {
        var backends = TestPools.Healthy(3);
        backends[0].Enter();
        backends[0].Enter();
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastConnections, backends);

        for (var i = 0; i < 298; i++)
        {
            balancer.Pick(PickContext.None)!.Enter();
        }

        Assert.All(backends, backend => Assert.Equal(100, backend.InFlight));
    }

    [Fact]
    public void Pick_Weighted_InFlightFollowsWeights()
    {
        var backends = TestPools.Weighted([3, 1]);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedLeastConnections, backends);

        for (var i = 0; i < 400; i++)
        {
            balancer.Pick(PickContext.None)!.Enter();
        }

        Assert.Equal(300, backends[0].InFlight);
        Assert.Equal(100, backends[1].InFlight);
    }

    [Fact]
    public void Pick_Weighted_IdlePoolPrefersHeavierBackend()
    {
        var backends = TestPools.Weighted([1, 5, 1]);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedLeastConnections, backends);

        Assert.Same(backends[1], balancer.Pick(PickContext.None));
    }

    [Fact]
    public void Pick_WeightedWithChurn_SharesFollowWeights()
    {
        // Requests finish in order of arrival, so the pool stays at about 40 in flight.
        var backends = TestPools.Weighted([3, 1]);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedLeastConnections, backends);
        var inFlight = new Queue<BackendState>();
        var picks = new Dictionary<BackendState, int> { [backends[0]] = 0, [backends[1]] = 0 };

        for (var i = 0; i < 40_000; i++)
        {
            var picked = balancer.Pick(PickContext.None)!;
            picked.Enter();
            picks[picked]++;
            inFlight.Enqueue(picked);
            if (inFlight.Count > 40)
            {
                inFlight.Dequeue().Leave();
            }
        }

        Assert.InRange(picks[backends[0]] / 40_000.0, 0.72, 0.78);
    }

    [Fact]
    public void Pick_LargePool_FindsIdleBackendWithinWindow()
    {
        // Beyond the window size a pick looks at a random window of backends: it still avoids
        // the busy ones whenever its window holds an idle one.
        var backends = TestPools.Healthy(1_000);
        for (var i = 0; i < backends.Length; i++)
        {
            if (i % 2 == 0)
            {
                backends[i].Enter();
            }
        }
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastConnections, backends);

        var counts = TestPools.Count(balancer, 10_000);

        Assert.Equal(10_000, backends.Where((_, i) => i % 2 == 1).Sum(b => counts[b]));
    }
}
