using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

internal static class TestPools
{
    public static BackendState[] Healthy(int count, string prefix = "b") =>
        Weighted(Enumerable.Repeat(1, count).ToArray(), prefix);

    public static BackendState[] Weighted(int[] weights, string prefix = "b")
    {
        var backends = new BackendState[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            backends[i] = NewBackend($"{prefix}{i}", weights[i], 9000 + i);
        }
        return backends;
    }

    public static BackendState NewBackend(string name, int weight = 1, int port = 9000) =>
        new("pool", name, "10.0.0.1", port, weight) { Health = BackendHealth.Healthy };

    public static ILoadBalancer Create(string algorithm, BackendState[] backends, ILoadBalancer? previous = null) =>
        LoadBalancerFactory.Create(Options(algorithm), backends, previous);

    public static LoadBalancingOptions Options(string algorithm) =>
        new(algorithm, algorithm == LoadBalancingAlgorithms.ConsistentHash ? "header X-User" : "");

    /// <summary>Picks <paramref name="picks"/> times (keys 0, 1, 2... for hash algorithms) and counts per backend.</summary>
    public static Dictionary<BackendState, int> Count(ILoadBalancer balancer, int picks, bool withKeys = false)
    {
        var counts = new Dictionary<BackendState, int>(ReferenceEqualityComparer.Instance);
        foreach (var backend in balancer.Backends)
        {
            counts[backend] = 0;
        }
        for (var i = 0; i < picks; i++)
        {
            var context = withKeys ? new PickContext(StableHash.Mix((ulong)i)) : PickContext.None;
            var picked = balancer.Pick(in context);
            Assert.NotNull(picked);
            counts[picked]++;
        }
        return counts;
    }

    public static IEnumerable<object[]> AllAlgorithms() =>
        LoadBalancingAlgorithms.All.Select(algorithm => new object[] { algorithm });

    public static IEnumerable<object[]> HashAlgorithms() =>
    [
        [LoadBalancingAlgorithms.ConsistentHash],
        [LoadBalancingAlgorithms.IpHash],
    ];
}
