namespace LoadBalancer.Agent.Pools;

/// <summary>
/// Cluster warming, as Envoy does it: a new pool (or every pool of an agent that just started)
/// takes traffic once each of its backends has a first health result, or once a short bound
/// has passed. Without it the first backend whose first probe passed took every request and
/// connection opened meanwhile, while its twins waited for their first probe. A pool already
/// serving never warms again: a backend added to it needs its own first pass, as before.
/// </summary>
public sealed class PoolWarming
{
    private readonly TaskCompletionSource _warm = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _boundStarted;

    /// <summary>For pools that need no warming (no active check, no backends, or already serving).</summary>
    public static PoolWarming Warm { get; } = CreateWarm();

    public bool IsWarm => _warm.Task.IsCompleted;

    public Task WhenWarm => _warm.Task;

    public void Complete() => _warm.TrySetResult();

    /// <summary>Starts the bound once (later calls do nothing): past it the pool serves whatever is known.</summary>
    public void StartBound(TimeSpan bound, TimeProvider time)
    {
        if (IsWarm || Interlocked.Exchange(ref _boundStarted, 1) != 0)
        {
            return;
        }
        _ = Task.Delay(bound, time).ContinueWith(_ => Complete(), TaskScheduler.Default);
    }

    private static PoolWarming CreateWarm()
    {
        var warm = new PoolWarming();
        warm.Complete();
        return warm;
    }
}
