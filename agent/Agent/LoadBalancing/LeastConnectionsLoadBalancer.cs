namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The available backend with the fewest requests in flight (or open connections, for TCP):
/// exact in small pools, the best of a few random ones in large pools (see <see cref="LeastLoaded"/>).
/// </summary>
internal sealed class LeastConnectionsLoadBalancer : LoadBalancerBase
{
    public LeastConnectionsLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen) =>
        LeastLoaded.Pick(_backends, failOpen, default(UniformCandidates));
}
