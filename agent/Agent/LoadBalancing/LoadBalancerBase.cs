namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// What every algorithm shares: the snapshot of backends and weights it was built from (so
/// the factory can tell whether a new snapshot changes anything), and the fail-open rule.
/// </summary>
internal abstract class LoadBalancerBase : ILoadBalancer
{
    // Fields rather than properties: they are read on every pick.
    protected readonly BackendState[] _backends;
    protected readonly int[] _weights;

    protected LoadBalancerBase(LoadBalancingOptions options, BackendState[] backends)
    {
        Options = options;
        _backends = backends;
        _weights = new int[backends.Length];
        for (var i = 0; i < backends.Length; i++)
        {
            // Read once: every structure built from weights uses this snapshot, and the factory
            // compares against it to detect a weight change.
            _weights[i] = backends[i].Weight;
        }
    }

    public LoadBalancingOptions Options { get; }

    public IReadOnlyList<BackendState> Backends => _backends;

    public BackendState? Pick(in PickContext context) => Pick(in context, out _);

    public BackendState? Pick(in PickContext context, out bool failedOpen)
    {
        var picked = PickCore(in context, failOpen: false);
        if (picked is not null)
        {
            failedOpen = false;
            return picked;
        }

        // Nothing available: spread over every enabled backend with the same algorithm, so a
        // pool whose health checks all fail still serves (and still balances).
        picked = PickCore(in context, failOpen: true);
        failedOpen = picked is not null;
        return picked;
    }

    /// <summary>
    /// Picks among the eligible backends (see <see cref="Eligibility.IsEligible"/>), or returns
    /// null when there is none. Must be exhaustive: null means no backend is eligible.
    /// </summary>
    protected abstract BackendState? PickCore(in PickContext context, bool failOpen);

    /// <summary>True when <paramref name="backends"/> holds the same instances, in the same order, with the same weights.</summary>
    internal bool HasSameBackends(BackendState[] backends)
    {
        if (backends.Length != _backends.Length)
        {
            return false;
        }
        for (var i = 0; i < backends.Length; i++)
        {
            if (!ReferenceEquals(backends[i], _backends[i]) || backends[i].Weight != _weights[i])
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True when this balancer was built from the same backends and weight snapshot as <paramref name="other"/>.</summary>
    internal bool HasSameSnapshot(LoadBalancerBase other) =>
        _backends.AsSpan().SequenceEqual(other._backends) && _weights.AsSpan().SequenceEqual(other._weights);

    /// <summary>Weight as used by the weighted algorithms: the contract says 1-1000, anything below counts as 1.</summary>
    protected static int EffectiveWeight(int weight) => weight < 1 ? 1 : weight;
}
