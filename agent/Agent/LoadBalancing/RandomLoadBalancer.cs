namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>A uniformly random available backend; no shared state, so no contention at all.</summary>
internal sealed class RandomLoadBalancer : LoadBalancerBase
{
    public RandomLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen)
    {
        var index = Eligibility.RandomEligible(_backends, failOpen, exclude: -1);
        return index < 0 ? null : _backends[index];
    }
}
