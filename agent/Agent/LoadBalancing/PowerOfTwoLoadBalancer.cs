namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// Two random available backends, the one with fewer requests in flight wins. Nearly as even as
/// least-connections, yet many agents picking at once do not all pile onto the same idle backend.
/// </summary>
internal sealed class PowerOfTwoLoadBalancer : LoadBalancerBase
{
    public PowerOfTwoLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
    }

    protected override BackendState? PickCore(in PickContext context, bool failOpen)
    {
        var backends = _backends;
        var first = Eligibility.RandomEligible(backends, failOpen, exclude: -1);
        if (first < 0)
        {
            return null;
        }
        var second = Eligibility.RandomEligible(backends, failOpen, exclude: first);
        if (second < 0)
        {
            return backends[first];
        }
        return backends[second].InFlight < backends[first].InFlight ? backends[second] : backends[first];
    }
}
