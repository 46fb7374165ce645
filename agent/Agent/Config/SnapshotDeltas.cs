using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Config;

/// <summary>A delta that does not apply to what the agent serves; <see cref="Reason"/> labels the metric.</summary>
public sealed class DeltaRejectedException(string reason, string message) : Exception(message)
{
    /// <summary>base (not the snapshot the agent serves), missing (removes what is not there), hash (the result differs).</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// Applies a <see cref="SnapshotDelta"/> to the snapshot the agent serves and checks the result
/// against the control plane's hash: the result is re-serialized (everything sorted by name, as
/// the control plane compiles it) and must hash to the delta's hash, so a delta computed against
/// other content, or a serializer that writes other bytes, is caught before anything is applied.
/// Nothing is changed in place: unchanged listeners, pools and certificates are the very message
/// objects of the base, which lets the mapper and the pools keep what they built from them.
/// </summary>
public static class SnapshotDeltas
{
    /// <summary>The whole snapshot the delta leads to, checked; throws <see cref="DeltaRejectedException"/>.</summary>
    public static (Snapshot Snapshot, SnapshotData Data) Apply(SnapshotData current, string currentHash, SnapshotDelta delta)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(delta);
        if (!string.Equals(delta.BaseHash, currentHash, StringComparison.Ordinal))
        {
            throw new DeltaRejectedException("base", $"delta {delta.Revision} is against {Short(delta.BaseHash)}, this agent serves {Short(currentHash)}");
        }

        var next = new SnapshotData { Tier = current.Tier };
        next.Listeners.AddRange(Merge(current.Listeners, delta.UpsertedListeners, delta.RemovedListeners, l => l.Name, "listener", delta.Revision));
        next.Certificates.AddRange(Merge(current.Certificates, delta.UpsertedCertificates, delta.RemovedCertificates, c => c.Name, "certificate", delta.Revision));

        var upsertedBackends = delta.UpsertedBackends.ToLookup(b => b.Pool, b => b.Backend, StringComparer.Ordinal);
        var removedBackends = delta.RemovedBackends.ToLookup(b => b.Pool, b => b.Backend.Name, StringComparer.Ordinal);
        var settings = delta.UpsertedPools.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var kept = Merge(current.Pools, [], delta.RemovedPools, p => p.Name, "pool", delta.Revision).ToDictionary(p => p.Name, StringComparer.Ordinal);
        var names = new SortedSet<string>(kept.Keys, StringComparer.Ordinal);
        names.UnionWith(settings.Keys);
        foreach (var pool in upsertedBackends.Select(g => g.Key).Concat(removedBackends.Select(g => g.Key)))
        {
            if (!names.Contains(pool))
            {
                throw new DeltaRejectedException("missing", $"delta {delta.Revision} changes backends of pool '{pool}', which this agent does not have");
            }
        }
        foreach (var name in names)
        {
            kept.TryGetValue(name, out var old);
            var newSettings = settings.GetValueOrDefault(name);
            if (old is not null && newSettings is null && !upsertedBackends.Contains(name) && !removedBackends.Contains(name))
            {
                // Untouched: the very same message, so what the agent built from it is kept.
                next.Pools.Add(old);
                continue;
            }
            var pool = SettingsOf(newSettings ?? old!);
            pool.Backends.AddRange(Merge(old?.Backends ?? (IReadOnlyList<SnapshotBackend>)[], upsertedBackends[name], removedBackends[name], b => b.Name, "backend", delta.Revision, $" of pool '{name}'"));
            next.Pools.Add(pool);
        }

        var payload = next.ToByteString();
        var hash = Convert.ToHexStringLower(SHA256.HashData(payload.Span));
        if (!string.Equals(hash, delta.Hash, StringComparison.Ordinal))
        {
            throw new DeltaRejectedException("hash", $"delta {delta.Revision} applied gives {Short(hash)}, the control plane has {Short(delta.Hash)}");
        }
        return (new Snapshot { Revision = delta.Revision, Hash = delta.Hash, Payload = payload, Epoch = delta.Epoch }, next);
    }

    /// <summary>
    /// The items of <paramref name="current"/> (sorted by name, ordinal, as the control plane sorts
    /// them) with <paramref name="removed"/> taken out and <paramref name="upserted"/> put in, still
    /// sorted: one pass over the current items, so a change to one of 10,000 backends costs a copy,
    /// not a sort. Were the current items not sorted, the result would not hash to the control
    /// plane's hash, and the delta would be refused.
    /// </summary>
    private static List<T> Merge<T>(IReadOnlyList<T> current, IEnumerable<T> upserted, IEnumerable<string> removed, Func<T, string> name, string kind, long revision, string where = "")
    {
        var gone = new HashSet<string>(removed, StringComparer.Ordinal);
        // The last upsert of a name wins, as it would in a dictionary.
        var added = upserted.GroupBy(name, StringComparer.Ordinal).Select(g => g.Last()).OrderBy(name, StringComparer.Ordinal).ToList();
        var result = new List<T>(current.Count + added.Count);
        var found = 0;
        var a = 0;
        foreach (var item in current)
        {
            var itemName = name(item);
            while (a < added.Count && string.CompareOrdinal(name(added[a]), itemName) < 0)
            {
                result.Add(added[a++]);
            }
            var isGone = gone.Contains(itemName);
            found += isGone ? 1 : 0;
            if (a < added.Count && string.Equals(name(added[a]), itemName, StringComparison.Ordinal))
            {
                result.Add(added[a++]);
            }
            else if (!isGone)
            {
                result.Add(item);
            }
        }
        result.AddRange(added.Skip(a));
        if (found != gone.Count)
        {
            var have = current.Select(name).ToHashSet(StringComparer.Ordinal);
            var missing = gone.Where(g => !have.Contains(g)).Order(StringComparer.Ordinal).First();
            throw new DeltaRejectedException("missing", $"delta {revision} removes {kind} '{missing}'{where}, which this agent does not have");
        }
        return result;
    }

    // Every field of a pool but its backends: copied field by field (messages are shared, never
    // changed), since cloning a 10,000-backend pool only to drop its backends would not be cheap.
    private static readonly Google.Protobuf.Reflection.FieldDescriptor[] SettingsFields =
        [.. SnapshotPool.Descriptor.Fields.InFieldNumberOrder().Where(f => f.FieldNumber != SnapshotPool.BackendsFieldNumber)];

    private static SnapshotPool SettingsOf(SnapshotPool pool)
    {
        var copy = new SnapshotPool();
        foreach (var field in SettingsFields)
        {
            var value = field.Accessor.GetValue(pool);
            if (value is not null)
            {
                field.Accessor.SetValue(copy, value);
            }
        }
        return copy;
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash.Length == 0 ? "(none)" : hash;
}
