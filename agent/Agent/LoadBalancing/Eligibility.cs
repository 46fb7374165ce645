using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>The "skip unavailable / fail open" rule and the scans built on it.</summary>
internal static class Eligibility
{
    /// <summary>
    /// Normally only available backends (enabled and healthy) qualify; when failing open, every
    /// enabled backend does, whatever its health. Draining and disabled never do.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsEligible(BackendState backend, bool failOpen) =>
        failOpen ? backend.AdminState == BackendAdminState.Enabled : backend.IsAvailable;

    /// <summary>Index of the first eligible backend at or after <paramref name="start"/> (wrapping), or -1.</summary>
    public static int NextEligible(BackendState[] backends, int start, bool failOpen)
    {
        var count = backends.Length;
        var index = start;
        for (var i = 0; i < count; i++)
        {
            if (IsEligible(backends[index], failOpen))
            {
                return index;
            }
            if (++index == count)
            {
                index = 0;
            }
        }
        return -1;
    }

    /// <summary>
    /// Index of a uniformly random eligible backend other than <paramref name="exclude"/>, or -1.
    /// A few random probes find one quickly when most are eligible; the scan from a random
    /// start afterwards keeps the answer exhaustive when few are.
    /// </summary>
    public static int RandomEligible(BackendState[] backends, bool failOpen, int exclude)
    {
        var count = backends.Length;
        if (count == 0)
        {
            return -1;
        }
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var index = Random.Shared.Next(count);
            if (index != exclude && IsEligible(backends[index], failOpen))
            {
                return index;
            }
        }

        var current = Random.Shared.Next(count);
        for (var i = 0; i < count; i++)
        {
            if (current != exclude && IsEligible(backends[current], failOpen))
            {
                return current;
            }
            if (++current == count)
            {
                current = 0;
            }
        }
        return -1;
    }
}

/// <summary>
/// An int alone on its cache line, for counters every pick increments: without the padding the
/// writes would keep invalidating the line that holds the balancer's read-only fields.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct PaddedCounter
{
    [FieldOffset(64)]
    public int Value;
}
