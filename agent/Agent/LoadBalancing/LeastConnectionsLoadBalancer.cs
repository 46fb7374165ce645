namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>The available backend with the fewest requests in flight (or open connections, for TCP).</summary>
internal sealed class LeastConnectionsLoadBalancer : LoadBalancerBase
{
    public LeastConnectionsLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen) =>
        LeastLoaded.Pick(_backends, failOpen, weighted: false);
}
