using System.Runtime.CompilerServices;

namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// A hash that is the same in every process and on every machine (string.GetHashCode is
/// randomized per process), so that every agent of a tier maps a key to the same backend.
/// FNV-1a over UTF-16 code units, then a 64-bit finalizer to spread the bits.
/// </summary>
public static class StableHash
{
    public static ulong Hash(ReadOnlySpan<char> value)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in value)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }
        return Mix(hash);
    }

    public static ulong Hash(ReadOnlySpan<byte> value)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in value)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return Mix(hash);
    }

    // Inlined: the least-loaded scan ranks every tie with it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        x ^= x >> 33;
        return x;
    }
}
