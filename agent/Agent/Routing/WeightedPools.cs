using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Persistence;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Proxy;

namespace LoadBalancer.Agent.Routing;

/// <summary>
/// The pool a request of a route goes to: the route's one pool, or a pick from its weighted split
/// (Gateway API's backendRefs: each pool gets weight / sum of the requests; weight 0 gets none).
/// A client whose session cookie names a backend of one of the split's pools (with a weight above
/// 0) stays on that pool, so a sticky session survives a split; 100/0 moves everyone at once.
/// </summary>
internal static class WeightedPools
{
    public static PoolRuntime? Choose<TRequest>(RouteConfig route, PoolRegistry pools, TRequest request)
        where TRequest : IRequestKeys
    {
        if (route.Pool.Length > 0)
        {
            return pools.Find(route.Pool);
        }
        var backends = route.Backends.AsSpan();
        if (backends.Length == 1)
        {
            return pools.Find(backends[0].Pool);
        }
        var total = 0;
        foreach (var backend in backends)
        {
            if (backend.Weight <= 0)
            {
                continue;
            }
            total += backend.Weight;
            if (pools.Find(backend.Pool) is { Config.SessionPersistence.Type: "cookie" } pool
                && SessionAffinity.FindStickyBackend(request, pool) is not null)
            {
                return pool;
            }
        }
        return total <= 0 ? null : pools.Find(Pick(backends, Random.Shared.Next(total)));
    }

    /// <summary>The pool whose share of [0, sum of weights) holds <paramref name="ticket"/>.</summary>
    internal static string Pick(ReadOnlySpan<WeightedPoolConfig> backends, int ticket)
    {
        foreach (var backend in backends)
        {
            if (backend.Weight <= 0)
            {
                continue;
            }
            if (ticket < backend.Weight)
            {
                return backend.Pool;
            }
            ticket -= backend.Weight;
        }
        throw new ArgumentOutOfRangeException(nameof(ticket), "beyond the sum of the weights");
    }
}
