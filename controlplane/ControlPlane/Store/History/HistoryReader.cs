using LoadBalancer.ControlPlane.History;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;
using LoadBalancer.ControlPlane.Validation;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>Lists revisions from the change log and reconstructs and compares kept revisions.</summary>
public sealed class HistoryReader(IDbContextFactory<LbDbContext> dbFactory)
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>The change-log operation that marks a rollback (Kind <see cref="RollbackKind"/>, Name the revision restored).</summary>
    public const string RollbackOperation = "rollback";
    public const string RollbackKind = "Revision";

    private static readonly string[] Kinds = [.. RevisionDiffer.Order.Select(k => k.ToString())];
    private static readonly string[] Operations = ["create", "update", "delete"];

    /// <summary>Revisions from <paramref name="kind"/>/<paramref name="name"/> (empty: any), newest first, each with its changes.</summary>
    public async Task<HistoryList> ListAsync(string kind, string name, int limit, CancellationToken cancellationToken)
    {
        var violations = new Violations();
        var kindName = "";
        if (kind.Length > 0)
        {
            kindName = Kinds.FirstOrDefault(k => string.Equals(k, kind.Trim(), StringComparison.OrdinalIgnoreCase)) ?? "";
            if (kindName.Length == 0)
            {
                violations.Add("kind", $"'{SpecValidator.Clip(kind)}' is not one of {string.Join(", ", Kinds)}");
            }
        }
        if (limit is < 0 or > MaxLimit)
        {
            violations.Add("limit", $"must be from 0 (default {DefaultLimit}) to {MaxLimit}");
        }
        violations.ThrowIfAny();
        name = name.Trim().ToLowerInvariant();
        limit = limit == 0 ? DefaultLimit : limit;

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var current = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
        var oldest = await HistoryQueries.OldestKeptAsync(db, cancellationToken).ConfigureAwait(false);
        var changes = db.ChangeLog.AsNoTracking()
            .Where(c => c.Revision >= oldest && c.Revision > 0 && Kinds.Contains(c.Kind) && Operations.Contains(c.Operation));
        var matching = changes;
        if (kindName.Length > 0)
        {
            matching = matching.Where(c => c.Kind == kindName);
        }
        if (name.Length > 0)
        {
            matching = matching.Where(c => c.Name == name);
        }
        var revisions = await matching.Select(c => c.Revision).Distinct().OrderByDescending(r => r).Take(limit)
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        var rows = await db.ChangeLog.AsNoTracking()
            .Where(c => revisions.Contains(c.Revision)
                && ((Kinds.Contains(c.Kind) && Operations.Contains(c.Operation)) || (c.Kind == RollbackKind && c.Operation == RollbackOperation)))
            .OrderBy(c => c.Id)
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        var list = new HistoryList { CurrentRevision = current, OldestKept = oldest };
        foreach (var group in rows.GroupBy(r => r.Revision).OrderByDescending(g => g.Key))
        {
            var first = group.First();
            var entry = new HistoryEntry
            {
                Revision = group.Key,
                At = Timestamp.FromDateTime(first.At),
                Actor = first.ActorTokenId,
                Role = first.ActorRole,
            };
            foreach (var row in group)
            {
                if (row.Kind == RollbackKind)
                {
                    entry.RollbackTo = long.TryParse(row.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var to) ? to : 0;
                }
                else if ((kindName.Length == 0 || row.Kind == kindName) && (name.Length == 0 || row.Name == name))
                {
                    entry.Changes.Add(new HistoryChange { Kind = row.Kind, Name = row.Name, Operation = row.Operation });
                }
            }
            list.Items.Add(entry);
        }
        return list;
    }

    /// <summary>The configuration at <paramref name="revision"/>, refused by name when it does not exist or was compacted.</summary>
    public async Task<RevisionContent> GetAsync(long revision, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var rows = await StateAsync(db, "revision", revision, cancellationToken).ConfigureAwait(false);
        var content = new RevisionContent { Revision = revision };
        content.Resources.AddRange(RevisionDiffer.Sorted(rows, r => System.Enum.Parse<ResourceKind>(r.Kind), r => r.Name).Select(HistoryProtos.ToResource));
        return content;
    }

    /// <summary>What changed from <paramref name="from"/> to <paramref name="to"/> (0: the current revision).</summary>
    public async Task<RevisionDiff> DiffAsync(long from, long to, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var current = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
        to = to == 0 ? current : to;
        var oldest = await HistoryQueries.OldestKeptAsync(db, cancellationToken).ConfigureAwait(false);
        var violations = new Violations();
        RevisionArguments.Check("from", from, current, oldest, violations);
        RevisionArguments.Check("to", to, current, oldest, violations);
        violations.ThrowIfAny();
        var before = await HistoryQueries.StateAtAsync(db, from, cancellationToken).ConfigureAwait(false);
        var after = await HistoryQueries.StateAtAsync(db, to, cancellationToken).ConfigureAwait(false);
        var diff = new RevisionDiff { From = from, To = to };
        diff.Changes.AddRange(RevisionDiffer.Diff(before, after).Select(HistoryProtos.ToProto));
        return diff;
    }

    /// <summary>Reads the revision and the horizon and the rows in one transaction, so a compaction cannot slip between them.</summary>
    private static async Task<IReadOnlyList<ResourceHistoryEntity>> StateAsync(LbDbContext db, string field, long revision, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var current = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
        var oldest = await HistoryQueries.OldestKeptAsync(db, cancellationToken).ConfigureAwait(false);
        var violations = new Violations();
        RevisionArguments.Check(field, revision, current, oldest, violations);
        violations.ThrowIfAny();
        return await HistoryQueries.StateAtAsync(db, revision, cancellationToken).ConfigureAwait(false);
    }
}
