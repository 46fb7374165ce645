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
    // An average that has not been refreshed for a while is halved per second of silence: a
    // backend that was slow once is tried again after a few seconds, instead of being starved
    // forever by an average that only a pick could update.
    private static long Score(BackendState backend) => Score(backend, Environment.TickCount64);

    internal static long Score(BackendState backend, long now)
    {
        var average = backend.LatencyEwmaMicros;
        var last = backend.LastLatencySample;
        if (average > 0 && last > 0)
        {
            var silentSeconds = (now - last) / 1000;
            if (silentSeconds > 0)
            {
                average >>= (int)Math.Min(silentSeconds, 40);
            }
        }
        return (average + 1) * (Math.Max(0, backend.InFlight) + 1);
    }
}
