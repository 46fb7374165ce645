namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>Settings of a pool that shape its balancer; value equality decides whether it is rebuilt.</summary>
public sealed record LoadBalancingOptions(string Algorithm, string HashOn);

/// <summary>Algorithm names of the contract (DESIGN.md section 2).</summary>
public static class LoadBalancingAlgorithms
{
    public const string RoundRobin = "round-robin";
    public const string WeightedRoundRobin = "weighted-round-robin";
    public const string LeastConnections = "least-connections";
    public const string WeightedLeastConnections = "weighted-least-connections";
    public const string LeastResponseTime = "least-response-time";
    public const string Random = "random";
    public const string PowerOfTwo = "power-of-two";
    public const string IpHash = "ip-hash";
    public const string ConsistentHash = "consistent-hash";
}

public static class LoadBalancerFactory
{
    /// <summary>
    /// Builds the balancer of a pool. <paramref name="previous"/> is the pool's current
    /// balancer, whose state may be carried over.
    /// </summary>
    public static ILoadBalancer Create(LoadBalancingOptions options, BackendState[] backends, ILoadBalancer? previous)
    {
        _ = options;
        _ = previous;
        return new RoundRobinLoadBalancer(backends);
    }
}
