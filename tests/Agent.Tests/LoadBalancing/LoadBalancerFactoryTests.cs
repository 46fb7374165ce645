using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class LoadBalancerFactoryTests
{
    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Create_SameOptionsAndBackends_ReturnsPrevious(string algorithm)
    {
        var backends = TestPools.Healthy(3);
        var first = TestPools.Create(algorithm, backends);

        // A new array (a new snapshot) holding the same instances, and new but equal options.
        var second = LoadBalancerFactory.Create(TestPools.Options(algorithm), [.. backends], first);

        Assert.Same(first, second);
    }

    [Fact]
    public void Create_HealthChange_ReturnsPrevious()
    {
        var backends = TestPools.Healthy(3);
        var first = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends);
        backends[1].Health = BackendHealth.Unhealthy;

        Assert.Same(first, TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends, first));
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Create_BackendAddedOrReordered_BuildsNew(string algorithm)
    {
        var backends = TestPools.Healthy(3);
        var first = TestPools.Create(algorithm, backends);

        Assert.NotSame(first, TestPools.Create(algorithm, [.. backends, TestPools.NewBackend("extra")], first));
        Assert.NotSame(first, TestPools.Create(algorithm, [backends[2], backends[1], backends[0]], first));
        Assert.NotSame(first, TestPools.Create(algorithm, [.. backends.Take(2), TestPools.NewBackend("b2")], first));
    }

    [Fact]
    public void Create_AlgorithmChanged_BuildsNew()
    {
        var backends = TestPools.Healthy(3);
        var first = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);

        var second = TestPools.Create(LoadBalancingAlgorithms.Random, backends, first);

        Assert.IsType<RandomLoadBalancer>(second);
    }

    [Fact]
    public void Create_WeightChanged_BuildsNewThatFollowsNewWeights()
    {
        var backends = TestPools.Weighted([1, 1]);
        var first = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);
        first.Pick(PickContext.None);

        // The snapshot updates the shared BackendState in place, then calls the factory.
        backends[0].Weight = 3;
        var second = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends, first);

        Assert.NotSame(first, second);
        var sequence = Enumerable.Range(0, 8).Select(_ => second.Pick(PickContext.None)!.Name);
        Assert.Equal(["b0", "b0", "b1", "b0", "b0", "b0", "b1", "b0"], sequence);
    }

    [Fact]
    public void Create_WeightChanged_ConsistentHashSharesFollow()
    {
        var backends = TestPools.Weighted([1, 1]);
        var first = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends);
        backends[0].Weight = 3;

        var second = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends, first);

        var counts = TestPools.Count(second, 40_000, withKeys: true);
        Assert.InRange(counts[backends[0]] / 40_000.0, 0.73, 0.77);
    }

    [Fact]
    public void Create_RoundRobinRebuilt_CarriesTheRotationOver()
    {
        var backends = TestPools.Healthy(4);
        var first = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);
        first.Pick(PickContext.None);
        first.Pick(PickContext.None);

        var second = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, [.. backends, TestPools.NewBackend("b4")], first);

        Assert.NotSame(first, second);
        Assert.Equal("b2", second.Pick(PickContext.None)!.Name);
    }

    [Fact]
    public void Create_CallerMutatesItsArray_BalancerKeepsItsSnapshot()
    {
        var backends = TestPools.Healthy(3);
        var first = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);

        backends[0] = TestPools.NewBackend("replacement");

        Assert.Equal("b0", first.Backends[0].Name);
        Assert.NotSame(first, TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends, first));
    }

    [Fact]
    public void Create_UnknownAlgorithm_ThrowsNamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            LoadBalancerFactory.Create(new LoadBalancingOptions("fastest-first", ""), TestPools.Healthy(2), null));

        Assert.Contains("fastest-first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_ConsistentHashWithoutHashOn_ThrowsNamingTheField()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            LoadBalancerFactory.Create(new LoadBalancingOptions(LoadBalancingAlgorithms.ConsistentHash, " "), TestPools.Healthy(2), null));

        Assert.Contains("hashOn", error.Message, StringComparison.Ordinal);
    }
}
