using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;

namespace LoadBalancer.ControlPlane.History;

/// <summary>One resource that differs between two configurations; Before or After is null when it was added or removed.</summary>
public sealed record RowChange(ResourceKind Kind, string Name, string Change, ResourceHistoryEntity? Before, ResourceHistoryEntity? After)
{
    public const string Added = "added";
    public const string Removed = "removed";
    public const string Changed = "changed";
}

/// <summary>Compares two reconstructed configurations (sets of history rows).</summary>
public static class RevisionDiffer
{
    /// <summary>Kinds in dependency order: what a resource refers to comes before it (the order export and apply use).</summary>
    public static IReadOnlyList<ResourceKind> Order { get; } = [ResourceKind.Certificate, ResourceKind.Pool, ResourceKind.Backend, ResourceKind.Listener];

    /// <summary>What differs, in <see cref="Order"/> then by name. Sealed secrets count: a certificate whose key alone changed differs.</summary>
    public static IReadOnlyList<RowChange> Diff(IEnumerable<ResourceHistoryEntity> before, IEnumerable<ResourceHistoryEntity> after)
    {
        var from = before.ToDictionary(r => (r.Kind, r.Name));
        var to = after.ToDictionary(r => (r.Kind, r.Name));
        var changes = new List<RowChange>();
        foreach (var key in from.Keys.Union(to.Keys))
        {
            var old = from.GetValueOrDefault(key);
            var now = to.GetValueOrDefault(key);
            var kind = Enum.Parse<ResourceKind>(key.Kind);
            if (old is null)
            {
                changes.Add(new RowChange(kind, key.Name, RowChange.Added, null, now));
            }
            else if (now is null)
            {
                changes.Add(new RowChange(kind, key.Name, RowChange.Removed, old, null));
            }
            else if (!SameContent(old, now))
            {
                changes.Add(new RowChange(kind, key.Name, RowChange.Changed, old, now));
            }
        }
        return Sorted(changes);
    }

    public static IReadOnlyList<T> Sorted<T>(IEnumerable<T> items, Func<T, ResourceKind> kind, Func<T, string> name) =>
        items.OrderBy(i => Rank(kind(i))).ThenBy(name, StringComparer.Ordinal).ToList();

    public static int Rank(ResourceKind kind)
    {
        var index = Order.ToList().IndexOf(kind);
        return index < 0 ? Order.Count : index;
    }

    private static IReadOnlyList<RowChange> Sorted(List<RowChange> changes) => Sorted(changes, c => c.Kind, c => c.Name);

    public static bool SameContent(ResourceHistoryEntity a, ResourceHistoryEntity b) =>
        a.SpecJson == b.SpecJson && a.LabelsJson == b.LabelsJson && a.Sealed.AsSpan().SequenceEqual(b.Sealed);
}
