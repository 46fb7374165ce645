namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The available backend with the fewest requests in flight per unit of weight: exact in small
/// pools, the best of a few drawn by weight in large pools (see <see cref="LeastLoaded"/>).
/// </summary>
internal sealed class WeightedLeastConnectionsLoadBalancer : LoadBalancerBase
{
    // From the weight snapshot: a weight change arrives as a new snapshot, which builds a new
    // balancer, and an int array is cheaper to read per candidate than the backend's own field.
    private readonly int[] _effectiveWeights;
    private readonly AliasTable _byWeight;

    public WeightedLeastConnectionsLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
        _effectiveWeights = Array.ConvertAll(_weights, EffectiveWeight);
        _byWeight = new AliasTable(_effectiveWeights);
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen) =>
        LeastLoaded.Pick(_backends, failOpen, new WeightedCandidates(_byWeight, _effectiveWeights));
}
