namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// Builds the cyclic pick order of weighted round-robin: a sequence of backend indices in which
/// each backend appears in proportion to its weight, spread out rather than bunched (weights
/// 5,1,1 give a a b a c a a, never five a in a row). Walking a precomputed sequence with an
/// atomic cursor is what makes the pick lock-free.
/// </summary>
internal static class SmoothWeightedSchedule
{
    /// <summary>Sequence length bounds; the bound grows with the pool so every backend keeps enough slots.</summary>
    internal const int MinLength = 1 << 16;
    internal const int MaxLength = 1 << 22;
    private const int SlotsPerBackend = 64;

    // Above this many steps the exact nginx-style interleave (O(length * n)) gets slow; the
    // deadline interleave (O(length * log n)) takes over.
    private const long InterleaveBudget = 1L << 24;

    public static int[] Build(ReadOnlySpan<int> weights)
    {
        var count = weights.Length;
        if (count == 0)
        {
            return [];
        }

        var gcd = 0;
        long sum = 0;
        foreach (var raw in weights)
        {
            var weight = Math.Max(1, raw);
            gcd = Gcd(gcd, weight);
            sum += weight;
        }

        // Exact when the reduced weights fit (the usual case: small pools, small weights).
        // Otherwise each backend gets a share of a bounded sequence, rounded to the nearest slot
        // and at least one, which keeps the relative error under 1 / (2 * its slot count).
        var cap = (int)Math.Clamp((long)SlotsPerBackend * count, MinLength, MaxLength);
        var slots = new long[count];
        long length = 0;
        var exact = sum / gcd <= cap;
        for (var i = 0; i < count; i++)
        {
            var weight = Math.Max(1, weights[i]);
            slots[i] = exact ? weight / gcd : Math.Max(1, (long)Math.Round((double)weight * cap / sum));
            length += slots[i];
        }

        return length * count <= InterleaveBudget ? SmoothInterleave(slots, length) : DeadlineInterleave(slots, length);
    }

    /// <summary>
    /// Smooth weighted round-robin as nginx defines it: every step each backend earns its weight
    /// in credit, the richest is picked and pays the total. After <paramref name="length"/> steps
    /// (the sum of the weights) every backend was picked exactly its weight times.
    /// </summary>
    private static int[] SmoothInterleave(long[] slots, long length)
    {
        var credit = new long[slots.Length];
        var schedule = new int[length];
        for (var step = 0; step < schedule.Length; step++)
        {
            var best = 0;
            for (var i = 0; i < slots.Length; i++)
            {
                credit[i] += slots[i];
                if (credit[i] > credit[best])
                {
                    best = i;
                }
            }
            credit[best] -= length;
            schedule[step] = best;
        }
        return schedule;
    }

    /// <summary>
    /// Stride scheduling for large pools: backend i's k-th turn is due at (k + 0.5) / slots[i] of
    /// the cycle, and turns are taken in due order (ties by index). Equally smooth (each backend is
    /// within one turn of its share over any prefix) at O(length * log n).
    /// </summary>
    private static int[] DeadlineInterleave(long[] slots, long length)
    {
        var queue = new PriorityQueue<int, (double Due, int Index)>(slots.Length);
        var taken = new long[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            queue.Enqueue(i, (0.5 / slots[i], i));
        }

        var schedule = new int[length];
        for (var step = 0; step < schedule.Length; step++)
        {
            var index = queue.Dequeue();
            schedule[step] = index;
            if (++taken[index] < slots[index])
            {
                queue.Enqueue(index, ((taken[index] + 0.5) / slots[index], index));
            }
        }
        return schedule;
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }
        return a;
    }
}
