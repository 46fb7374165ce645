namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// Smooth weighted round-robin: walks the precomputed <see cref="SmoothWeightedSchedule"/> with
/// an atomic cursor. Weights are fixed for the life of the instance; a weight change arrives as a
/// new snapshot, and the factory builds a new instance for it.
/// </summary>
internal sealed class WeightedRoundRobinLoadBalancer : LoadBalancerBase
{
    // Random positions of the sequence tried for the turn of an unavailable backend before a scan
    // of the backends takes over (only when most of the pool is down).
    private const int MaxRandomTurns = 16;

    private readonly int[] _schedule;
    private PaddedCounter _cursor;

    public WeightedRoundRobinLoadBalancer(LoadBalancingOptions options, BackendState[] backends)
        : base(options, backends)
    {
        _schedule = SmoothWeightedSchedule.Build(_weights);
    }

    internal int ScheduleLength => _schedule.Length;

    protected override BackendState? PickCore(in PickContext context, bool failOpen)
    {
        var backends = _backends;
        var schedule = _schedule;
        if (schedule.Length == 0)
        {
            return null;
        }

        // The cursor wraps after 2^32 picks; the uint modulo keeps the position valid across the wrap.
        var position = (int)((uint)(Interlocked.Increment(ref _cursor.Value) - 1) % (uint)schedule.Length);
        var candidate = backends[schedule[position]];
        if (Eligibility.IsEligible(candidate, failOpen))
        {
            return candidate;
        }

        // The turn of an unavailable backend goes to a random position of the sequence, that is
        // to a backend drawn by weight, so the others keep their weighted proportions (handing it
        // to whoever follows in the sequence would not).
        for (var i = 0; i < MaxRandomTurns; i++)
        {
            candidate = backends[schedule[Random.Shared.Next(schedule.Length)]];
            if (Eligibility.IsEligible(candidate, failOpen))
            {
                return candidate;
            }
        }

        var index = Eligibility.NextEligible(backends, schedule[position], failOpen);
        return index < 0 ? null : backends[index];
    }
}
