namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>Each available backend in turn.</summary>
internal sealed class RoundRobinLoadBalancer : LoadBalancerBase
{
    private PaddedCounter _counter;

    /// <param name="counter">The previous balancer's counter, so a snapshot update does not restart the rotation.</param>
    public RoundRobinLoadBalancer(LoadBalancingOptions options, BackendState[] backends, int counter = 0)
        : base(options, backends)
    {
        _counter.Value = counter;
    }

    internal int Counter => Volatile.Read(ref _counter.Value);

    protected override BackendState? PickCore(in PickContext context, bool failOpen)
    {
        var backends = _backends;
        if (backends.Length == 0)
        {
            return null;
        }

        // The counter wraps after 2^32 picks; the uint modulo keeps the position valid across the wrap.
        var position = (int)((uint)(Interlocked.Increment(ref _counter.Value) - 1) % (uint)backends.Length);
        var candidate = backends[position];
        if (Eligibility.IsEligible(candidate, failOpen))
        {
            return candidate;
        }

        // The turn of an unavailable backend goes to a random available one: handing it to the
        // next backend in the list would give that one a double share.
        var index = Eligibility.RandomEligible(backends, failOpen, exclude: -1);
        return index < 0 ? null : backends[index];
    }
}
