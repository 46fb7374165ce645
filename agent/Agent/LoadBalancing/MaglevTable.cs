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
    // The more slots per backend, the closer Maglev gets to moving only 1/N of the keys when a
    // backend joins or leaves (measured, one of 100 removed: 1.6% of keys move at 655 slots per
    // backend, 1.27% at 2,600, ideal 1%) and the more even the shares; the cost is build time and
    // memory (a million slots: 4 MB, ~0.2 s). The size must not follow the backend count
    // closely, though: a new size is a new permutation for every backend and moves nearly every
    // key. So it climbs a fixed ladder (the first prime above 2^16, 2^18, 2^20), and a pool
    // reshuffles only when it crosses a rung: at 66 and 263 backends.
    private const int MinSizeLog2 = 16;
    private const int MaxSizeLog2 = 20;
    private const int SlotsPerBackend = 1_000;

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

        var size = SizeFor(count);
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

        // Which slots are taken lives in a bitmap (128 KB for a million slots) that stays in cache
        // while the permutations jump around the table; the table itself is written once per slot.
        var slots = new int[size];
        var taken = new ulong[(size + 63) / 64];
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
                while ((taken[slot >> 6] & (1UL << slot)) != 0)
                {
                    slot += step;
                    if (slot >= size)
                    {
                        slot -= size;
                    }
                }
                taken[slot >> 6] |= 1UL << slot;
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

    /// <summary>Table size for a pool of <paramref name="count"/> backends: a rung of the ladder, the same on every agent.</summary>
    internal static int SizeFor(int count)
    {
        var log2 = MinSizeLog2;
        while (log2 < MaxSizeLog2 && (1L << log2) < (long)SlotsPerBackend * count)
        {
            log2 += 2;
        }
        return NextPrime(1 << log2);
    }

    /// <summary>The slot a key hashes to.</summary>
    internal int SlotOf(ulong key)
    {
        // Mix so that even raw keys (an IPv4 address as a number) spread, then map to the table by
        // multiply-high, which is uniform and cheaper than a modulo.
        var high = Math.BigMul(StableHash.Mix(key), (ulong)_slots.Length, out _);
        return (int)high;
    }

    /// <summary>
    /// The backend whose slot <paramref name="key"/> hashes to, whatever its state: the one a
    /// session key belongs to while every backend is up.
    /// </summary>
    public BackendState? Owner(ulong key) => _slots.Length == 0 ? null : _backends[_slots[SlotOf(key)]];

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
