using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Snapshots;

/// <summary>
/// The change between two compiled snapshots of one tier, resource by resource (listeners,
/// pool settings, backends, certificates, each keyed by name): what an agent holding the first
/// needs to rebuild the second byte for byte. Both inputs are sorted by name, as the compiler
/// writes them, so one merge pass per kind finds every difference.
/// </summary>
public static class SnapshotDeltas
{
    /// <summary>
    /// The delta from <paramref name="from"/> to <paramref name="to"/>; the revisions, hashes and
    /// epoch are the caller's to fill in.
    /// </summary>
    public static SnapshotDelta Compute(SnapshotData from, SnapshotData to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (!string.Equals(from.Tier, to.Tier, StringComparison.Ordinal))
        {
            throw new ArgumentException($"snapshots of tiers {from.Tier} and {to.Tier} have no delta", nameof(to));
        }
        var delta = new SnapshotDelta();
        Merge(from.Listeners, to.Listeners, l => l.Name, delta.UpsertedListeners.Add, delta.RemovedListeners.Add, changed: (a, b) => !a.Equals(b));
        Merge(from.Certificates, to.Certificates, c => c.Name, delta.UpsertedCertificates.Add, delta.RemovedCertificates.Add, changed: (a, b) => !a.Equals(b));

        var before = from.Pools.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var pool in to.Pools)
        {
            before.Remove(pool.Name, out var old);
            if (old is null || !SameSettings(old, pool))
            {
                delta.UpsertedPools.Add(SettingsOf(pool));
            }
            // A new pool's backends all arrive as upserts; a removed pool takes its own along.
            Merge(old?.Backends ?? [], pool.Backends, b => b.Name,
                b => delta.UpsertedBackends.Add(new DeltaBackend { Pool = pool.Name, Backend = b }),
                name => delta.RemovedBackends.Add(new DeltaBackend { Pool = pool.Name, Backend = new SnapshotBackend { Name = name } }),
                changed: (a, b) => !a.Equals(b));
        }
        delta.RemovedPools.AddRange(before.Keys.Order(StringComparer.Ordinal));
        return delta;
    }

    /// <summary>The pool without its backends: what a pool upsert carries.</summary>
    public static SnapshotPool SettingsOf(SnapshotPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var settings = pool.Clone();
        settings.Backends.Clear();
        return settings;
    }

    // Every field but backends, read through the descriptor so that a field added to the pool
    // later is compared too; cloning a 10,000-backend pool to compare its settings would not be cheap.
    private static readonly Google.Protobuf.Reflection.FieldDescriptor[] SettingsFields =
        [.. SnapshotPool.Descriptor.Fields.InFieldNumberOrder().Where(f => f.FieldNumber != SnapshotPool.BackendsFieldNumber)];

    private static bool SameSettings(SnapshotPool a, SnapshotPool b) =>
        SettingsFields.All(f => Equals(f.Accessor.GetValue(a), f.Accessor.GetValue(b)));

    private static void Merge<T>(IEnumerable<T> before, IEnumerable<T> after, Func<T, string> name, Action<T> upserted, Action<string> removed, Func<T, T, bool> changed)
    {
        var old = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in before)
        {
            old[name(item)] = item;
        }
        foreach (var item in after)
        {
            if (!old.Remove(name(item), out var previous) || changed(previous, item))
            {
                upserted(item);
            }
        }
        foreach (var gone in old.Keys.Order(StringComparer.Ordinal))
        {
            removed(gone);
        }
    }
}
