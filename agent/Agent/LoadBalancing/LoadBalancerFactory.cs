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

    /// <summary>Every name above, for validation and listings.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        RoundRobin, WeightedRoundRobin, LeastConnections, WeightedLeastConnections, LeastResponseTime,
        Random, PowerOfTwo, IpHash, ConsistentHash,
    ];
}

public static class LoadBalancerFactory
{
    /// <summary>
    /// Builds the balancer of a pool. <paramref name="previous"/> is the pool's current
    /// balancer: it is returned as is when neither the options nor the backends (same instances,
    /// order and weights) changed, so counters and hash tables survive unrelated snapshot
    /// updates; otherwise a new balancer is built, carrying over what still applies (the
    /// round-robin position, a hash table whose backends did not change).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown algorithm, or consistent-hash without hashOn.</exception>
    public static ILoadBalancer Create(LoadBalancingOptions options, BackendState[] backends, ILoadBalancer? previous)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backends);

        var prior = previous as LoadBalancerBase;
        if (prior is not null && prior.Options == options && prior.HasSameBackends(backends))
        {
            return prior;
        }

        // The control plane validates first; this is defence in depth against a bad snapshot.
        if (options.Algorithm == LoadBalancingAlgorithms.ConsistentHash && string.IsNullOrWhiteSpace(options.HashOn))
        {
            throw new ArgumentException("Load-balancing algorithm 'consistent-hash' needs hashOn.", nameof(options));
        }

        // Our own copy: the caller may reuse its array, and HasSameBackends compares against this one.
        var snapshot = (BackendState[])backends.Clone();
        if (Array.IndexOf(snapshot, null) >= 0)
        {
            throw new ArgumentException("The backend array contains null.", nameof(backends));
        }

        return options.Algorithm switch
        {
            LoadBalancingAlgorithms.RoundRobin =>
                new RoundRobinLoadBalancer(options, snapshot, (prior as RoundRobinLoadBalancer)?.Counter ?? 0),
            LoadBalancingAlgorithms.WeightedRoundRobin => new WeightedRoundRobinLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.LeastConnections => new LeastConnectionsLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.WeightedLeastConnections => new WeightedLeastConnectionsLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.LeastResponseTime => new LeastResponseTimeLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.Random => new RandomLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.PowerOfTwo => new PowerOfTwoLoadBalancer(options, snapshot),
            LoadBalancingAlgorithms.IpHash => new IpHashLoadBalancer(options, snapshot, prior),
            LoadBalancingAlgorithms.ConsistentHash => new ConsistentHashLoadBalancer(options, snapshot, prior),
            _ => throw new ArgumentException($"Unknown load-balancing algorithm '{options.Algorithm}'.", nameof(options)),
        };
    }
}
