namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// Draws a backend index with probability proportional to its weight, in constant time and
/// without allocating: Vose's alias method. Each of the n buckets is chosen uniformly and holds
/// its own index for part of its width and one other (its alias) for the rest; the widths are
/// arranged so that every index ends up with exactly its share.
/// </summary>
/// <remarks>
/// Built once per snapshot in O(n) from the weights (at least 1 each), immutable afterwards, so
/// any number of threads can draw from it. The build is in integers, so the table itself is
/// exact; a draw resolves the split inside a bucket to 32 - log2(n) bits, a share error of
/// about n / 2^32, which no load balancer can notice.
/// </remarks>
internal sealed class AliasTable
{
    // Fractions of a bucket are in units of 2^-32. A bucket whose alias is itself is full, so its
    // threshold does not matter.
    private const int FractionBits = 32;

    private readonly Bucket[] _buckets;

    public AliasTable(ReadOnlySpan<int> weights)
    {
        var count = weights.Length;
        _buckets = new Bucket[count];
        if (count == 0)
        {
            return;
        }

        // Every bucket has room for `total`; an index brings weight * count of it, so the
        // average bucket is exactly full and nothing needs rounding.
        long total = 0;
        var mass = new long[count];
        for (var i = 0; i < count; i++)
        {
            var weight = Math.Max(1, weights[i]);
            total += weight;
            mass[i] = (long)weight * count;
        }

        // Two stacks in one array: underfull indices grow from the front, the others from the back.
        var stack = new int[count];
        var small = 0;
        var large = count;
        for (var i = 0; i < count; i++)
        {
            if (mass[i] < total)
            {
                stack[small++] = i;
            }
            else
            {
                stack[--large] = i;
            }
        }

        // An underfull bucket is topped up from an overfull index, which may become underfull in turn.
        while (small > 0 && large < count)
        {
            var under = stack[--small];
            var over = stack[large];
            _buckets[under] = new Bucket(Scale(mass[under], total), over);
            mass[over] -= total - mass[under];
            if (mass[over] < total)
            {
                large++;
                stack[small++] = over;
            }
        }

        // Whatever is left is exactly full (integer arithmetic leaves no rounding residue).
        for (var i = 0; i < small; i++)
        {
            _buckets[stack[i]] = new Bucket(uint.MaxValue, stack[i]);
        }
        for (var i = large; i < count; i++)
        {
            _buckets[stack[i]] = new Bucket(uint.MaxValue, stack[i]);
        }
    }

    /// <summary>An index drawn by weight, from 32 random bits.</summary>
    public int Sample(uint random)
    {
        var buckets = _buckets;
        // random / 2^32 * n is a uniform point in [0, n): the integer part picks the bucket, the
        // fraction (the low 32 bits of the product) which side of its split the point falls on.
        var point = (ulong)random * (uint)buckets.Length;
        var index = (int)(point >> FractionBits);
        var bucket = buckets[index];
        return (uint)point < bucket.Threshold ? index : bucket.Alias;
    }

    /// <summary>The probability of drawing <paramref name="index"/>, from the table itself (for tests).</summary>
    internal double Probability(int index)
    {
        var share = 0.0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            var own = _buckets[i].Alias == i ? 1.0 : (double)_buckets[i].Threshold / (1UL << FractionBits);
            share += i == index ? own : 0;
            share += _buckets[i].Alias == index ? 1 - own : 0;
        }
        return share / _buckets.Length;
    }

    // mass < total here, so the fraction is below 2^32.
    private static uint Scale(long mass, long total) => (uint)(((UInt128)(ulong)mass << FractionBits) / (ulong)total);

    // Threshold and alias side by side: one draw reads one 8-byte entry.
    private readonly record struct Bucket(uint Threshold, int Alias);
}
