namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// Consistent hashing on a <see cref="MaglevTable"/>: the same key goes to the same backend on
/// every agent, weights set each backend's share of keys, and a backend joining or leaving moves
/// about 1/N of the keys. A pick without a hash key falls back to a random backend.
/// </summary>
internal abstract class MaglevLoadBalancer : LoadBalancerBase
{
    private readonly MaglevTable _table;

    protected MaglevLoadBalancer(LoadBalancingOptions options, BackendState[] backends, LoadBalancerBase? previous)
        : base(options, backends)
    {
        // Only the options changed (say hashOn): the table depends on backends and weights alone.
        _table = previous is MaglevLoadBalancer prior && HasSameSnapshot(prior)
            ? prior._table
            : MaglevTable.Build(_backends, _weights);
    }

    internal MaglevTable Table => _table;

    protected sealed override BackendState? PickCore(in PickContext context, bool failOpen)
    {
        if (context.HasHashKey)
        {
            return _table.Lookup(context.HashKey, failOpen);
        }
        var index = Eligibility.RandomEligible(_backends, failOpen, exclude: -1);
        return index < 0 ? null : _backends[index];
    }
}

/// <summary>
/// Consistent hashing on the key the adapter derives from the pool's hashOn (source address,
/// a header, a cookie or the path).
/// </summary>
internal sealed class ConsistentHashLoadBalancer : MaglevLoadBalancer
{
    public ConsistentHashLoadBalancer(LoadBalancingOptions options, BackendState[] backends, LoadBalancerBase? previous)
        : base(options, backends, previous)
    {
    }
}

/// <summary>
/// Consistent hashing on the client's address (the adapter hashes it). Unlike nginx's ip_hash,
/// which takes the first three octets modulo the pool size, adding or removing a backend moves
/// only about 1/N of the clients.
/// </summary>
internal sealed class IpHashLoadBalancer : MaglevLoadBalancer
{
    public IpHashLoadBalancer(LoadBalancingOptions options, BackendState[] backends, LoadBalancerBase? previous)
        : base(options, backends, previous)
    {
    }
}
