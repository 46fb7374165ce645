namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The pick behind least-connections and weighted-least-connections: the eligible backend with
/// the lowest (in-flight + 1) / weight, every weight being 1 for least-connections.
/// </summary>
/// <remarks>
/// <para>
/// The + 1 compares the load a backend would carry after the pick, so that among idle backends
/// the heavier one wins. Loads are compared cross-multiplied, in integers.
/// </para>
/// <para>
/// Pools of up to <see cref="ExactLimit"/> backends are scanned in full: the pick is the exact
/// least loaded. A larger pool compares <see cref="Choices"/> random eligible candidates (power of
/// d choices, as Envoy's least-request does). Each backend's counters live on their own object,
/// so every backend read is a likely cache miss: a scan, even of a window of 16, cost 100-300 ns
/// at 1,000 backends. Two random candidates keep the busiest backend within a few requests of
/// the average, whatever the pool size, at a cost that does not grow with the pool. When the
/// random draws find nothing eligible (most of the pool down), the exact scan decides.
/// </para>
/// <para>
/// The weighted variant draws its candidates in proportion to weight (<see cref="AliasTable"/>):
/// under even load the shares then follow the weights, and the comparison pulls back a backend
/// that gets ahead of its share. Uniform draws would cap what a heavy backend can receive at
/// about d / n of the picks, whatever its weight.
/// </para>
/// <para>
/// Ties are broken at random: by the order of the random draws when sampling, by a per-pick random
/// order of the pool when scanning. Both stay fair whatever the positions of the unavailable
/// backends, which a scan from a random start would not (the first available backend after a run
/// of unavailable ones would also win their turns).
/// </para>
/// </remarks>
internal static class LeastLoaded
{
    /// <summary>Pools up to this size get an exact scan.</summary>
    public const int ExactLimit = 16;

    /// <summary>Eligible candidates compared per pick in a larger pool.</summary>
    public const int Choices = 2;

    // Draws before giving up on sampling, for pools where most backends are not eligible; the
    // exact scan then decides, and it is also what tells "none eligible" (null) for certain.
    private const int MaxDraws = 8 * Choices;

    public static BackendState? Pick<TCandidates>(BackendState[] backends, bool failOpen, TCandidates candidates)
        where TCandidates : struct, ICandidates
    {
        if (backends.Length > ExactLimit)
        {
            var picked = Sample(backends, failOpen, candidates);
            if (picked is not null)
            {
                return picked;
            }
        }
        return Scan(backends, failOpen, candidates);
    }

    private static BackendState? Sample<TCandidates>(BackendState[] backends, bool failOpen, TCandidates candidates)
        where TCandidates : struct, ICandidates
    {
        BackendState? best = null;
        long bestLoad = 0;
        long bestWeight = 1;
        var found = 0;
        ulong bits = 0;
        for (var draw = 0; draw < MaxDraws; draw++)
        {
            // One call to the random generator serves two draws: 32 bits each from its 63
            // (the second draw's lowest bit is always 0, a loss of precision that cannot matter).
            uint random;
            if ((draw & 1) == 0)
            {
                bits = (ulong)Random.Shared.NextInt64();
                random = (uint)bits;
            }
            else
            {
                random = (uint)(bits >> 32) << 1;
            }
            var index = candidates.Draw(random, backends.Length);
            var candidate = backends[index];
            if (!Eligibility.IsEligible(candidate, failOpen))
            {
                continue;
            }

            var load = Math.Max(0, candidate.InFlight) + 1;
            long weight = candidates.Weight(index);
            // Strictly less: an equal candidate drawn later loses, which is still a fair coin
            // because the order of the draws is random.
            if (best is null || load * bestWeight < bestLoad * weight)
            {
                best = candidate;
                bestLoad = load;
                bestWeight = weight;
            }
            if (++found == Choices)
            {
                break;
            }
        }
        return best;
    }

    private static BackendState? Scan<TCandidates>(BackendState[] backends, bool failOpen, TCandidates candidates)
        where TCandidates : struct, ICandidates
    {
        // Equal loads go to the lower rank, a hash of the position salted per pick: a random
        // order of the pool without drawing one number per tie.
        var salt = (ulong)Random.Shared.NextInt64();
        var best = -1;
        long bestLoad = 0;
        long bestWeight = 1;
        for (var i = 0; i < backends.Length; i++)
        {
            var candidate = backends[i];
            if (!Eligibility.IsEligible(candidate, failOpen))
            {
                continue;
            }

            var load = Math.Max(0, candidate.InFlight) + 1;
            long weight = candidates.Weight(i);
            var ours = load * bestWeight;
            var theirs = bestLoad * weight;
            if (best < 0 || ours < theirs || (ours == theirs && Rank(salt, i) < Rank(salt, best)))
            {
                best = i;
                bestLoad = load;
                bestWeight = weight;
            }
        }
        return best < 0 ? null : backends[best];
    }

    private static ulong Rank(ulong salt, int index) => StableHash.Mix(salt + (ulong)index);
}

/// <summary>
/// How a least-loaded pick draws candidates and weighs them. A struct type argument, so the JIT
/// compiles each variant on its own and the unweighted one loses its multiplications by 1.
/// </summary>
internal interface ICandidates
{
    /// <summary>An index below <paramref name="count"/> (the pool size), from 32 random bits.</summary>
    int Draw(uint random, int count);

    /// <summary>The weight of the backend at <paramref name="index"/>, at least 1.</summary>
    int Weight(int index);
}

/// <summary>Every backend equally likely, every weight 1: least-connections.</summary>
internal readonly struct UniformCandidates : ICandidates
{
    // Multiply-shift maps 32 random bits onto [0, count) without a division; the bias,
    // count / 2^32 at most, is far below anything a load balancer could notice.
    public int Draw(uint random, int count) => (int)(((ulong)random * (uint)count) >> 32);

    public int Weight(int index) => 1;
}

/// <summary>Backends drawn in proportion to their weight: weighted-least-connections.</summary>
internal readonly struct WeightedCandidates(AliasTable table, int[] weights) : ICandidates
{
    // The table was built from the same backends, so it already knows their count.
    public int Draw(uint random, int count) => table.Sample(random);

    public int Weight(int index) => weights[index];
}
