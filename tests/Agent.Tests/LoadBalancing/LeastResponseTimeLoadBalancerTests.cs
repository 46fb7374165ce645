using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class LeastResponseTimeLoadBalancerTests
{
    [Fact]
    public void Pick_OneSlowBackend_MovesLoadAway()
    {
        var backends = TestPools.Healthy(4);
        foreach (var backend in backends)
        {
            backend.RecordLatency(TimeSpan.FromMilliseconds(10));
        }
        backends[3].RecordLatency(TimeSpan.FromMilliseconds(200));
        for (var i = 0; i < 50; i++)
        {
            backends[3].RecordLatency(TimeSpan.FromMilliseconds(200));
        }
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastResponseTime, backends);

        var counts = TestPools.Count(balancer, 12_000);

        // The two choices are distinct, so the slow backend always meets a faster one and loses.
        Assert.Equal(0, counts[backends[3]]);
        Assert.All(backends.Take(3), b => Assert.InRange(counts[b], 3_400, 4_600));
    }

    [Fact]
    public void Score_AverageNotRefreshed_DecaysSoASlowBackendIsTriedAgain()
    {
        var slow = TestPools.NewBackend("slow");
        var fast = TestPools.NewBackend("fast");
        slow.RecordLatency(TimeSpan.FromMilliseconds(200));
        fast.RecordLatency(TimeSpan.FromMilliseconds(10));
        var now = Math.Max(slow.LastLatencySample, fast.LastLatencySample);

        // Fresh averages: the slow backend loses.
        Assert.True(LeastResponseTimeLoadBalancer.Score(slow, now) > LeastResponseTimeLoadBalancer.Score(fast, now));
        // After five silent seconds its average has halved five times (200 ms -> 6.25 ms) and it
        // beats a fast backend that keeps answering, so it gets probed and re-measured.
        fast.RecordLatency(TimeSpan.FromMilliseconds(10));
        var later = slow.LastLatencySample + 5_000;
        Assert.True(LeastResponseTimeLoadBalancer.Score(slow, later) < LeastResponseTimeLoadBalancer.Score(fast, fast.LastLatencySample));
    }

    [Fact]
    public void Pick_FastBackendLoaded_SpillsToSlowerOnes()
    {
        var backends = TestPools.Healthy(2);
        backends[0].RecordLatency(TimeSpan.FromMilliseconds(10));
        backends[1].RecordLatency(TimeSpan.FromMilliseconds(30));
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastResponseTime, backends);

        for (var i = 0; i < 400; i++)
        {
            balancer.Pick(PickContext.None)!.Enter();
        }

        // Expected wait latency * (inFlight + 1) evens out at about 3:1.
        Assert.InRange(backends[0].InFlight, 290, 310);
    }

    [Fact]
    public void Pick_BackendWithoutSample_GetsProbed()
    {
        var backends = TestPools.Healthy(2);
        backends[0].RecordLatency(TimeSpan.FromMilliseconds(5));
        var balancer = TestPools.Create(LoadBalancingAlgorithms.LeastResponseTime, backends);

        Assert.Same(backends[1], balancer.Pick(PickContext.None));
    }
}
