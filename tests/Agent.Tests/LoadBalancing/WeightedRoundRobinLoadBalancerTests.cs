using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class WeightedRoundRobinLoadBalancerTests
{
    [Fact]
    public void Pick_Weights511_InterleavesSmoothly()
    {
        var backends = TestPools.Weighted([5, 1, 1], prefix: "");
        backends = [Rename(backends[0], "a", 5), Rename(backends[1], "b", 1), Rename(backends[2], "c", 1)];
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);

        var sequence = string.Join(' ', Enumerable.Range(0, 14).Select(_ => balancer.Pick(PickContext.None)!.Name));

        Assert.Equal("a a b a c a a a a b a c a a", sequence);
    }

    [Fact]
    public void Pick_Weights31_SharesWithinAPercent()
    {
        var backends = TestPools.Weighted([3, 1]);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);

        var counts = TestPools.Count(balancer, 40_000);

        Assert.Equal(30_000, counts[backends[0]]);
        Assert.Equal(10_000, counts[backends[1]]);
    }

    [Fact]
    public void Pick_LargePoolWithLargeWeightSum_KeepsSharesAndSmoothness()
    {
        // 2,000 distinct weights: the exact cycle would be millions of picks long, so the bounded
        // stride-scheduled sequence is used.
        var weights = Enumerable.Range(0, 2_000).Select(i => 1 + (i * 7919 % 1000)).ToArray();
        var backends = TestPools.Weighted(weights);
        var balancer = (WeightedRoundRobinLoadBalancer)TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);
        Assert.InRange(balancer.ScheduleLength, SmoothWeightedSchedule.MinLength, SmoothWeightedSchedule.MaxLength + weights.Length);

        var counts = TestPools.Count(balancer, balancer.ScheduleLength);

        double total = weights.Sum();
        for (var i = 0; i < backends.Length; i++)
        {
            var expected = balancer.ScheduleLength * (weights[i] / total);
            Assert.InRange(counts[backends[i]], Math.Floor(expected * 0.9) - 1, Math.Ceiling(expected * 1.1) + 1);
        }
    }

    [Theory]
    [InlineData(new[] { 10, 1, 1, 1 })]
    [InlineData(new[] { 7, 3, 2 })]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6 })]
    public void Pick_AnyPrefix_StaysWithinOnePickOfEachShare(int[] weights)
    {
        // Smoothness: after t picks every backend has had its share t * w / W, give or take one.
        var backends = TestPools.Weighted(weights);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);
        double total = weights.Sum();
        var counts = new int[weights.Length];

        for (var t = 1; t <= 1_000; t++)
        {
            counts[Array.IndexOf(backends, balancer.Pick(PickContext.None))]++;
            for (var i = 0; i < weights.Length; i++)
            {
                Assert.InRange(counts[i] - (t * weights[i] / total), -1.0, 1.0);
            }
        }
    }

    [Fact]
    public void Pick_UnavailableBackend_KeepsProportionsOfTheOthers()
    {
        var backends = TestPools.Weighted([3, 1, 5]);
        backends[2].AdminState = BackendAdminState.Draining;
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);

        var counts = TestPools.Count(balancer, 90_000);

        Assert.Equal(0, counts[backends[2]]);
        Assert.InRange(counts[backends[0]] / 90_000.0, 0.74, 0.76);
    }

    private static BackendState Rename(BackendState source, string name, int weight) =>
        new(source.Pool, name, source.Host, source.Port, weight) { Health = BackendHealth.Healthy };
}
