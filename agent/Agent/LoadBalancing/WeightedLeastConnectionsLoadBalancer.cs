namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>The available backend with the fewest requests in flight per unit of weight.</summary>
internal sealed class WeightedLeastConnectionsLoadBalancer : LoadBalancerBase
{
    // Weights change only with a new snapshot, which builds a new balancer.
    private readonly long _maxWeight;

    public WeightedLeastConnectionsLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
        _maxWeight = backends.Length == 0 ? 1 : backends.Max(b => (long)Math.Max(1, b.Weight));
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen) =>
        LeastLoaded.Pick(_backends, failOpen, weighted: true, _maxWeight);
}
