namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// What the protocol adapter (HTTP or TCP) knows about one pick. The adapter computes the
/// hash key (source address, header, cookie or path, as the pool's hashOn says) with
/// <see cref="StableHash"/>, so the core never sees HTTP.
/// </summary>
public readonly struct PickContext
{
    public PickContext(ulong hashKey)
    {
        HashKey = hashKey;
        HasHashKey = true;
    }

    public ulong HashKey { get; }

    /// <summary>False for <see cref="None"/>: hash algorithms then fall back to a random pick.</summary>
    public bool HasHashKey { get; }

    public static PickContext None => default;
}

/// <summary>
/// Picks one backend of a pool. Implementations are thread-safe, take no global lock and
/// allocate nothing per pick. They skip backends that are not <see cref="BackendState.IsAvailable"/>
/// and fail open (pick among the enabled ones) when none is available.
/// </summary>
public interface ILoadBalancer
{
    /// <summary>The backends this balancer picks from, in snapshot order.</summary>
    IReadOnlyList<BackendState> Backends { get; }

    /// <summary>Returns null only when the pool has no enabled backend at all.</summary>
    BackendState? Pick(in PickContext context);

    /// <summary>
    /// Same as <see cref="Pick(in PickContext)"/>; <paramref name="failedOpen"/> is true when no
    /// backend was available and the pick was made among all enabled backends regardless of
    /// health, so the caller can log and count the event.
    /// </summary>
    BackendState? Pick(in PickContext context, out bool failedOpen);
}
