namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// A Maglev lookup table (Eisenbud et al., NSDI 2016): a prime number of slots, filled by the
/// backends in turn, each claiming the next free slot of its own permutation of the table. Every
/// backend ends up with a share of slots proportional to its weight, and when one of N backends
/// joins or leaves only about 1/N of the slots change owner.
/// </summary>
/// <remarks>
/// Everything that decides the table is derived from backend names and weights, never from
/// snapshot order or process state, so every agent of a tier builds the same table and sends a
/// key to the same backend. Health is not part of the table: a key whose backend is unavailable
/// walks to the following slots (deterministically, the same on every agent) and comes back as
/// soon as its backend recovers, while keys of other backends stay where they are.
/// </remarks>
internal sealed class MaglevTable
{
    // Maglev's paper keeps the table at least ~100 times the backend count so that shares stay
    // within about 1% of the weights; 65537 is the usual floor.
    private const int MinSize = 65_537;
    private const int MaxSize = 1 << 24;
    private const int SlotsPerBackend = 100;

    // Slots walked past unavailable backends before a plain (still deterministic) scan takes over;
    // only reached when most of the pool is down.
    private const int MaxProbes = 128;

    private readonly BackendState[] _backends;
    private readonly int[] _byName;
    private readonly int[] _slots;

    private MaglevTable(BackendState[] backends, int[] byName, int[] slots)
    {
        _backends = backends;
        _byName = byName;
        _slots = slots;
    }

    public int Size => _slots.Length;

    /// <summary>Index (in snapshot order) of the backend owning <paramref name="slot"/>.</summary>
    internal int OwnerOf(int slot) => _slots[slot];

    public static MaglevTable Build(BackendState[] backends, ReadOnlySpan<int> weights)
    {
        var count = backends.Length;
        if (count == 0)
        {
            return new MaglevTable(backends, [], []);
        }

        // Fill in name order so that snapshot order does not matter.
        var byName = new int[count];
        for (var i = 0; i < count; i++)
        {
            byName[i] = i;
        }
        Array.Sort(byName, (a, b) =>
        {
            var byNameOrder = string.CompareOrdinal(backends[a].Name, backends[b].Name);
            return byNameOrder != 0 ? byNameOrder : string.CompareOrdinal(backends[a].Address, backends[b].Address);
        });

        var size = NextPrime((int)Math.Clamp((long)SlotsPerBackend * count, MinSize, MaxSize));
        var position = new int[count];
        var skip = new int[count];
        var weight = new int[count];
        var credit = new long[count];
        var maxWeight = 1;
        for (var rank = 0; rank < count; rank++)
        {
            var index = byName[rank];
            // The name alone, so that moving a backend to a new address keeps its keys.
            var hash = StableHash.Hash(backends[index].Name.AsSpan());
            position[rank] = (int)(hash % (ulong)size);
            skip[rank] = (int)(StableHash.Mix(hash ^ 0x9E3779B97F4A7C15UL) % (ulong)(size - 1)) + 1;
            weight[rank] = Math.Max(1, weights[index]);
            maxWeight = Math.Max(maxWeight, weight[rank]);
        }

        var slots = new int[size];
        Array.Fill(slots, -1);
        var filled = 0;
        while (true)
        {
            for (var rank = 0; rank < count; rank++)
            {
                // Weighted turns: each round a backend earns its weight in credit and takes a turn
                // per maxWeight of credit, so the heaviest takes one every round, the others
                // proportionally fewer.
                credit[rank] += weight[rank];
                if (credit[rank] < maxWeight)
                {
                    continue;
                }
                credit[rank] -= maxWeight;

                // The size is prime and 0 < skip < size, so the permutation visits every slot and
                // this walk ends at a free one.
                var slot = position[rank];
                var step = skip[rank];
                while (slots[slot] >= 0)
                {
                    slot += step;
                    if (slot >= size)
                    {
                        slot -= size;
                    }
                }
                slots[slot] = byName[rank];
                slot += step;
                position[rank] = slot >= size ? slot - size : slot;

                if (++filled == size)
                {
                    return new MaglevTable(backends, byName, slots);
                }
            }
        }
    }

    /// <summary>The slot a key hashes to.</summary>
    internal int SlotOf(ulong key)
    {
        // Mix so that even raw keys (an IPv4 address as a number) spread, then map to the table by
        // multiply-high, which is uniform and cheaper than a modulo.
        var high = Math.BigMul(StableHash.Mix(key), (ulong)_slots.Length, out _);
        return (int)high;
    }

    public BackendState? Lookup(ulong key, bool failOpen)
    {
        var slots = _slots;
        if (slots.Length == 0)
        {
            return null;
        }

        var slot = SlotOf(key);
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            var candidate = _backends[slots[slot]];
            if (Eligibility.IsEligible(candidate, failOpen))
            {
                return candidate;
            }
            if (++slot == slots.Length)
            {
                slot = 0;
            }
        }

        var byName = _byName;
        var rank = (int)(key % (ulong)byName.Length);
        for (var i = 0; i < byName.Length; i++)
        {
            var candidate = _backends[byName[rank]];
            if (Eligibility.IsEligible(candidate, failOpen))
            {
                return candidate;
            }
            if (++rank == byName.Length)
            {
                rank = 0;
            }
        }
        return null;
    }

    private static int NextPrime(int value)
    {
        for (var candidate = value | 1; ; candidate += 2)
        {
            if (IsPrime(candidate))
            {
                return candidate;
            }
        }
    }

    private static bool IsPrime(int value)
    {
        if (value < 2)
        {
            return false;
        }
        if (value % 2 == 0)
        {
            return value == 2;
        }
        for (var divisor = 3; (long)divisor * divisor <= value; divisor += 2)
        {
            if (value % divisor == 0)
            {
                return false;
            }
        }
        return true;
    }
}
