namespace LoadBalancer.Agent.Tests.Support;

internal static class Allocations
{
    /// <summary>
    /// Bytes the current thread allocates running <paramref name="work"/>, the least of a few
    /// rounds: the runtime may allocate once in any window (a thread-static block on first use,
    /// tiered compilation), while a per-call allocation shows in every round.
    /// </summary>
    public static long LeastOf(Action work, int rounds = 3)
    {
        var least = long.MaxValue;
        for (var round = 0; round < rounds; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            work();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
