using LoadBalancer.ControlPlane.History;
using System.Globalization;
using System.Text.Json;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;
using LoadBalancer.ControlPlane.Validation;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>What a rollback did (or, for a dry run, would do).</summary>
public sealed record RollbackResult(long Revision, bool DryRun, IReadOnlyList<RowChange> Changes, IReadOnlyList<string> Warnings);

/// <summary>
/// Writes one new revision whose content equals an older one, through the store's write path
/// (one transaction, revision bumped last, change feed): resources created since are deleted,
/// deleted ones come back as stored (sealed keys included), changed ones get their old labels
/// and spec. The restored configuration is validated as a write would be, against itself and
/// today's clock: a certificate that expired since refuses the rollback with the reason.
/// Rolling back to the current revision is refused; to an older one with the same content
/// writes nothing.
/// </summary>
public sealed class RollbackWriter(ResourceStore store, SecretProtector secrets)
{
    public async Task<RollbackResult> RollbackAsync(long to, bool dryRun, Caller caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var (revision, (changes, warnings)) = await store.WriteStagedAsync<(IReadOnlyList<RowChange>, IReadOnlyList<string>)>(
            (db, current, next, now, ct) => StageAsync(db, to, current, next, now, caller, ct), dryRun, cancellationToken).ConfigureAwait(false);
        return new RollbackResult(revision, dryRun, changes, warnings);
    }

    private async Task<(int Changed, (IReadOnlyList<RowChange>, IReadOnlyList<string>) Result)> StageAsync(
        LbDbContext db, long to, long current, long next, DateTime now, Caller caller, CancellationToken cancellationToken)
    {
        var violations = new Violations();
        if (to == current && to > 0)
        {
            violations.Add("to", string.Create(CultureInfo.InvariantCulture, $"revision {to} is the current revision; nothing to roll back"));
        }
        else
        {
            RevisionArguments.Check("to", to, current, await HistoryQueries.OldestKeptAsync(db, cancellationToken).ConfigureAwait(false), violations);
        }
        violations.ThrowIfAny();

        var target = await HistoryQueries.StateAtAsync(db, to, cancellationToken).ConfigureAwait(false);
        var live = new Dictionary<(string Kind, string Name), ResourceEntity>();
        foreach (var entity in await db.Pools.ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            live[(nameof(ResourceKind.Pool), entity.Name)] = entity;
        }
        foreach (var entity in await db.Backends.ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            live[(nameof(ResourceKind.Backend), entity.Name)] = entity;
        }
        foreach (var entity in await db.Listeners.ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            live[(nameof(ResourceKind.Listener), entity.Name)] = entity;
        }
        foreach (var entity in await db.Certificates.ToListAsync(cancellationToken).ConfigureAwait(false))
        {
            live[(nameof(ResourceKind.Certificate), entity.Name)] = entity;
        }
        var changes = RevisionDiffer.Diff(
            live.Select(e => HistoryRows.Of(Enum.Parse<ResourceKind>(e.Key.Kind), e.Value, e.Value.ResourceVersion)), target);
        var certificates = Validate(to, target, changes, now, out var warnings);
        if (changes.Count == 0)
        {
            return (0, (changes, warnings));
        }

        // Deletions first, dependents before what they use, and saved before anything is added:
        // a listener created since may hold the (tier, port) a restored one needs.
        foreach (var change in changes.Where(c => c.Change == RowChange.Removed).Reverse())
        {
            var entity = live[(change.Kind.ToString(), change.Name)];
            db.Remove(entity);
            db.ChangeLog.Add(ResourceStore.AuditEntry(caller, next, change.Kind.ToString(), change.Name, "delete", entity.ResourceVersion, 0, now));
            HistoryRows.RecordDelete(db, next, change.Kind, change.Name);
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);

        foreach (var change in changes.Where(c => c.Change != RowChange.Removed))
        {
            var row = change.After!;
            var existing = live.GetValueOrDefault((row.Kind, row.Name));
            var entity = existing ?? Create(change.Kind, row);
            var oldVersion = existing?.ResourceVersion ?? 0;
            if (existing is not null && existing.SpecJson != row.SpecJson)
            {
                entity.Generation++;
            }
            entity.ResourceVersion = next;
            entity.UpdatedAt = now;
            entity.LabelsJson = row.LabelsJson;
            entity.SpecJson = row.SpecJson;
            SetKindColumns(entity, row, certificates);
            if (existing is null)
            {
                db.Add(entity);
            }
            db.ChangeLog.Add(ResourceStore.AuditEntry(caller, next, change.Kind.ToString(), change.Name, existing is null ? "create" : "update", oldVersion, next, now));
            db.ResourceHistory.Add(HistoryRows.Of(change.Kind, entity, next));
        }
        // The one entry that says what happened: a rollback, by whom, to which revision.
        db.ChangeLog.Add(ResourceStore.AuditEntry(caller, next, HistoryReader.RollbackKind, to.ToString(CultureInfo.InvariantCulture), HistoryReader.RollbackOperation, current, next, now));
        return (changes.Count, (changes, warnings));
    }

    private static ResourceEntity Create(ResourceKind kind, ResourceHistoryEntity row)
    {
        ResourceEntity entity = kind switch
        {
            ResourceKind.Pool => new PoolEntity(),
            ResourceKind.Backend => new BackendEntity(),
            ResourceKind.Listener => new ListenerEntity(),
            ResourceKind.Certificate => new CertificateEntity(),
            _ => throw new InvalidOperationException($"history holds an unknown kind {kind}"),
        };
        // It comes back as the same object: same uid, creation time and generation.
        entity.Name = row.Name;
        entity.Uid = row.Uid;
        entity.Generation = row.Generation;
        entity.CreatedAt = row.CreatedAt;
        return entity;
    }

    private void SetKindColumns(ResourceEntity entity, ResourceHistoryEntity row, IReadOnlyDictionary<string, CertificateInfo> certificates)
    {
        switch (entity)
        {
            case PoolEntity pool:
                // A key kept from before keys were sealed (a database seeded by the history
                // migration, sealed at start since) comes back sealed too.
                pool.SessionKey = row.Sealed.Length == PoolEntity.SessionKeySize
                    ? secrets.ProtectSessionKey(row.Sealed, row.Name)
                    : row.Sealed.ToArray();
                break;
            case BackendEntity backend:
                backend.Pool = ProtoJson.Parse<BackendSpec>(row.SpecJson).Pool;
                break;
            case ListenerEntity listener:
                var spec = ProtoJson.Parse<ListenerSpec>(row.SpecJson);
                listener.Tier = spec.Tier;
                listener.Port = spec.Port;
                break;
            case CertificateEntity certificate:
                var info = certificates[row.Name];
                certificate.EncryptedPrivateKey = row.Sealed.ToArray();
                ResourceStore.SetInspected(certificate, info);
                break;
        }
    }

    /// <summary>
    /// Checks every resource the rollback writes against the restored configuration, as a write
    /// would. Refusals name the field "to", then the resource and its field. Returns the
    /// inspected certificates by name.
    /// </summary>
    private static Dictionary<string, CertificateInfo> Validate(long to, IReadOnlyList<ResourceHistoryEntity> target, IReadOnlyList<RowChange> changes, DateTime now, out IReadOnlyList<string> warnings)
    {
        var view = new StoreView();
        foreach (var row in target)
        {
            switch (Enum.Parse<ResourceKind>(row.Kind))
            {
                case ResourceKind.Pool: view.Pools[row.Name] = ProtoJson.Parse<PoolSpec>(row.SpecJson); break;
                case ResourceKind.Listener: view.Listeners[row.Name] = ProtoJson.Parse<ListenerSpec>(row.SpecJson); break;
                case ResourceKind.Certificate: view.Certificates.Add(row.Name); break;
            }
        }
        var violations = new Violations();
        var certificates = new Dictionary<string, CertificateInfo>(StringComparer.Ordinal);
        foreach (var change in changes.Where(c => c.After is not null))
        {
            var row = change.After!;
            var prefix = $"{change.Kind}/{row.Name}: ";
            switch (change.Kind)
            {
                case ResourceKind.Pool:
                    SpecValidator.ValidatePool(row.Name, ProtoJson.Parse<PoolSpec>(row.SpecJson), view, violations, prefix);
                    break;
                case ResourceKind.Backend:
                    SpecValidator.ValidateBackend(ProtoJson.Parse<BackendSpec>(row.SpecJson), view, violations, prefix);
                    break;
                case ResourceKind.Listener:
                    SpecValidator.ValidateListener(row.Name, ProtoJson.Parse<ListenerSpec>(row.SpecJson), view, violations, prefix);
                    break;
                case ResourceKind.Certificate:
                    var pem = ProtoJson.Parse<CertificateSpec>(row.SpecJson).CertificatePem;
                    if (CertificateInspector.InspectChain(pem, now, violations, prefix + "spec.certificatePem") is { } info)
                    {
                        certificates[row.Name] = info;
                    }
                    break;
            }
        }
        warnings = violations.Warnings;
        if (violations.HasAny)
        {
            throw Violations.ToException([.. violations.Items.Select(v => ("to", $"revision {to} cannot be restored: {v.Field}: {v.Description}"))]);
        }
        return certificates;
    }
}
