namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The better of two random available backends by expected wait: latency average times
/// (in-flight + 1). Two choices rather than the global best, so that a fleet of agents reading
/// the same slow-moving averages does not herd onto the single fastest backend.
/// </summary>
internal sealed class LeastResponseTimeLoadBalancer : LoadBalancerBase
{
    public LeastResponseTimeLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
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
        return Score(backends[second]) < Score(backends[first]) ? backends[second] : backends[first];
    }

    // A backend with no sample yet (average 0) scores lowest, so it gets probed and measured.
    private static long Score(BackendState backend) =>
        (backend.LatencyEwmaMicros + 1) * (Math.Max(0, backend.InFlight) + 1);
}
