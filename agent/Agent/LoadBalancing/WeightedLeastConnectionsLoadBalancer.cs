namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>The available backend with the fewest requests in flight per unit of weight.</summary>
internal sealed class WeightedLeastConnectionsLoadBalancer : LoadBalancerBase
{
    public WeightedLeastConnectionsLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen) =>
        LeastLoaded.Pick(_backends, failOpen, weighted: true);
}
