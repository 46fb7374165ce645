using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Collections;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Validation;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>One resource touched by a write, as it is after the write (or would be, for a dry run).</summary>
public sealed record AppliedResource(ResourceKind Kind, string Name, string Action, long ResourceVersion, ResourceEntity Entity);

/// <summary>Outcome of a write: the revision it produced (the current one when nothing changed).</summary>
public sealed record WriteResult(long Revision, bool DryRun, IReadOnlyList<AppliedResource> Resources)
{
    /// <summary>What validation accepted with a warning (a certificate near expiry, a self-signed CA:TRUE leaf).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

public static class ApplyActions
{
    public const string Created = "created";
    public const string Configured = "configured";
    public const string Unchanged = "unchanged";
}

/// <summary>
/// The only write path of the store. Every write is one IMMEDIATE transaction, serialized
/// in-process too: validate everything against the store as the write would leave it, check
/// resourceVersions, write rows, append the change log, bump the revision as the last
/// statement, commit, then notify the <see cref="StoreChangeFeed"/>. A refused write changes nothing.
/// </summary>
public sealed partial class ResourceStore(
    IDbContextFactory<LbDbContext> dbFactory,
    StoreChangeFeed changeFeed,
    SecretProtector secrets,
    TimeProvider time,
    ILogger<ResourceStore> logger) : IResourceWriter, IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    private enum WriteMode
    {
        Create,
        Update,
        Apply,
    }

    public Task<WriteResult> CreateAsync(Resource resource, bool dryRun, Caller caller, CancellationToken cancellationToken = default) =>
        WriteAsync([resource], WriteMode.Create, dryRun, caller, cancellationToken);

    public Task<WriteResult> UpdateAsync(Resource resource, bool dryRun, Caller caller, CancellationToken cancellationToken = default) =>
        WriteAsync([resource], WriteMode.Update, dryRun, caller, cancellationToken);

    /// <summary>Creates or updates all <paramref name="resources"/> in one transaction with at most one revision bump.</summary>
    public Task<WriteResult> ApplyAsync(IReadOnlyList<Resource> resources, bool dryRun, Caller caller, CancellationToken cancellationToken = default) =>
        WriteAsync(resources, WriteMode.Apply, dryRun, caller, cancellationToken);

    public void Dispose() => _writeLock.Dispose();

    /// <summary>The change log doubles as the audit log: one row per changed resource, with who did it.</summary>
    internal static ChangeLogEntry AuditEntry(Caller caller, long revision, string kind, string name, string operation, long oldVersion, long newVersion, DateTime at) => new()
    {
        Revision = revision,
        Kind = kind,
        Name = name,
        Operation = operation,
        At = at,
        ActorTokenId = caller.TokenId,
        ActorRole = caller.Role,
        Peer = caller.Peer,
        OldResourceVersion = oldVersion,
        NewResourceVersion = newVersion,
    };

    private sealed class Pending
    {
        public required ResourceKind Kind { get; init; }
        public required string Name { get; init; }
        public required string Prefix { get; init; }
        public required ObjectMeta Metadata { get; init; }
        public required IMessage? Spec { get; init; }
        public ResourceEntity? Existing { get; set; }
        public string? PrivateKeyPem { get; set; }
        public CertificateInfo? Certificate { get; set; }
    }

    private sealed class Loaded
    {
        public required long Revision { get; init; }
        public required Dictionary<string, PoolEntity> Pools { get; init; }
        public required Dictionary<string, BackendEntity> Backends { get; init; }
        public required Dictionary<string, ListenerEntity> Listeners { get; init; }
        public required Dictionary<string, CertificateEntity> Certificates { get; init; }

        public ResourceEntity? Find(ResourceKind kind, string name) => kind switch
        {
            ResourceKind.Pool => Pools.GetValueOrDefault(name),
            ResourceKind.Backend => Backends.GetValueOrDefault(name),
            ResourceKind.Listener => Listeners.GetValueOrDefault(name),
            ResourceKind.Certificate => Certificates.GetValueOrDefault(name),
            _ => null,
        };
    }

    private async Task<WriteResult> WriteAsync(IReadOnlyList<Resource> resources, WriteMode mode, bool dryRun, Caller caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resources);
        ArgumentNullException.ThrowIfNull(caller);
        if (mode == WriteMode.Apply && resources.Count == 0)
        {
            throw Violations.Single("resources", "at least one resource is required");
        }
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            // Microsoft.Data.Sqlite begins non-deferred transactions with BEGIN IMMEDIATE: the write lock is taken up front.
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var loaded = await LoadAsync(db, cancellationToken).ConfigureAwait(false);
            var pending = Plan(resources, mode, loaded, out var warnings);
            var now = time.GetUtcNow().UtcDateTime;
            var newRevision = loaded.Revision + 1;
            var results = new List<AppliedResource>(pending.Count);
            var changed = 0;
            foreach (var item in pending)
            {
                var oldVersion = item.Existing?.ResourceVersion ?? 0;
                var action = Stage(db, item, newRevision, now, loaded);
                var entity = loaded.Find(item.Kind, item.Name) ?? throw new InvalidOperationException($"staged {item.Kind} {item.Name} is missing");
                if (action != ApplyActions.Unchanged)
                {
                    changed++;
                    db.ChangeLog.Add(AuditEntry(caller, newRevision, item.Kind.ToString(), item.Name,
                        action == ApplyActions.Created ? "create" : "update", oldVersion, entity.ResourceVersion, now));
                }
                results.Add(new AppliedResource(item.Kind, item.Name, action, entity.ResourceVersion, entity));
            }
            if (changed == 0)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return new WriteResult(loaded.Revision, dryRun, results) { Warnings = warnings };
            }
            History.HistoryRows.Record(db, newRevision, results);
            await SaveChangesAsync(db, cancellationToken).ConfigureAwait(false);
            await BumpRevisionAsync(db, loaded.Revision, newRevision, cancellationToken).ConfigureAwait(false);
            if (dryRun)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return new WriteResult(loaded.Revision, true, results) { Warnings = warnings };
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            LogCommitted(newRevision, changed);
            changeFeed.Notify(newRevision);
            return new WriteResult(newRevision, false, results) { Warnings = warnings };
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// A write that is not a plain create, update or delete (a rollback, History/), under the
    /// same rules: the write lock, one IMMEDIATE transaction, rows saved (listener port moves
    /// included), the revision bumped last, then the change feed. <paramref name="stage"/> gets
    /// the context, the current and the new revision and the time, stages its rows (change log
    /// and history included) and returns how many resources it changed; 0 writes nothing.
    /// </summary>
    internal async Task<(long Revision, T Result)> WriteStagedAsync<T>(
        Func<LbDbContext, long, long, DateTime, CancellationToken, Task<(int Changed, T Result)>> stage, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stage);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            var (changed, result) = await stage(db, revision, revision + 1, time.GetUtcNow().UtcDateTime, cancellationToken).ConfigureAwait(false);
            if (changed == 0 || dryRun)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return (revision, result);
            }
            await SaveChangesAsync(db, cancellationToken).ConfigureAwait(false);
            await BumpRevisionAsync(db, revision, revision + 1, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            LogCommitted(revision + 1, changed);
            changeFeed.Notify(revision + 1);
            return (revision + 1, result);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Decrypts a certificate's private key for an admin's export, recording who took it in the
    /// audit log first: reading a key is as sensitive as changing one.
    /// </summary>
    public async Task<(string PrivateKeyPem, string Fingerprint)> ExportPrivateKeyAsync(string name, Caller caller, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            var certificate = await db.Certificates.AsNoTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false)
                ?? throw StoreErrors.NotFound(ResourceKind.Certificate, name);
            var pem = secrets.Unprotect(certificate.EncryptedPrivateKey, certificate.Name);
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            db.ChangeLog.Add(AuditEntry(caller, revision, ResourceKind.Certificate.ToString(), name, "export-key", certificate.ResourceVersion, certificate.ResourceVersion, time.GetUtcNow().UtcDateTime));
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            return (pem, certificate.FingerprintSha256);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Records a read or a removal that changes no resource but must be accountable (an admin's
    /// sync stream, which carries a tier's private keys; an agent forgotten): one audit row at the
    /// current revision, written before the caller goes on.
    /// </summary>
    public async Task AuditAsync(Caller caller, string kind, string name, string operation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            db.ChangeLog.Add(AuditEntry(caller, revision, kind, name, operation, 0, 0, time.GetUtcNow().UtcDateTime));
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Deletes one resource unless something still uses it; <paramref name="resourceVersion"/> 0 skips the version check.</summary>
    public async Task<long> DeleteAsync(ResourceKind kind, string name, long resourceVersion, bool dryRun, Caller caller, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        name = (name ?? "").ToLowerInvariant();
        if (!Names.IsDnsLabel(name))
        {
            throw Violations.Single("name", name.Length == 0 ? "required" : $"'{SpecValidator.Clip(name)}' is not a DNS label");
        }
        if (resourceVersion < 0)
        {
            throw Violations.Single("resourceVersion", "must not be negative");
        }
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            ResourceEntity? entity = kind switch
            {
                ResourceKind.Pool => await db.Pools.FindAsync([name], cancellationToken).ConfigureAwait(false),
                ResourceKind.Backend => await db.Backends.FindAsync([name], cancellationToken).ConfigureAwait(false),
                ResourceKind.Listener => await db.Listeners.FindAsync([name], cancellationToken).ConfigureAwait(false),
                ResourceKind.Certificate => await db.Certificates.FindAsync([name], cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a versioned resource kind"),
            };
            if (entity is null)
            {
                throw StoreErrors.NotFound(kind, name);
            }
            if (resourceVersion != 0 && resourceVersion != entity.ResourceVersion)
            {
                throw StoreErrors.Stale(kind, name, entity.ResourceVersion, resourceVersion);
            }
            await CheckNotInUseAsync(db, kind, name, cancellationToken).ConfigureAwait(false);
            var newRevision = revision + 1;
            db.Remove(entity);
            db.ChangeLog.Add(AuditEntry(caller, newRevision, kind.ToString(), name, "delete", entity.ResourceVersion, 0, time.GetUtcNow().UtcDateTime));
            History.HistoryRows.RecordDelete(db, newRevision, kind, name);
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            await BumpRevisionAsync(db, revision, newRevision, cancellationToken).ConfigureAwait(false);
            if (dryRun)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return revision;
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            LogDeleted(newRevision, kind, name);
            changeFeed.Notify(newRevision);
            return newRevision;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static async Task CheckNotInUseAsync(LbDbContext db, ResourceKind kind, string name, CancellationToken cancellationToken)
    {
        if (kind is not (ResourceKind.Pool or ResourceKind.Certificate))
        {
            return;
        }
        var listeners = await db.Listeners.AsNoTracking().OrderBy(l => l.Name).ToListAsync(cancellationToken).ConfigureAwait(false);
        var users = listeners
            .Where(l =>
            {
                var spec = ProtoJson.Parse<ListenerSpec>(l.SpecJson);
                return kind == ResourceKind.Pool
                    ? spec.Pool == name || spec.Routes.Any(r => RouteRules.PoolsOf(r).Contains(name))
                    : spec.Certificates.Contains(name);
            })
            .Select(l => l.Name)
            .ToList();
        if (users.Count > 0)
        {
            throw StoreErrors.InUse(kind, name, $"used by listener(s) {Describe(users)}");
        }
        if (kind == ResourceKind.Pool)
        {
            var backends = await db.Backends.AsNoTracking().Where(b => b.Pool == name).OrderBy(b => b.Name)
                .Select(b => b.Name).ToListAsync(cancellationToken).ConfigureAwait(false);
            if (backends.Count > 0)
            {
                throw StoreErrors.InUse(kind, name, $"it still has backend(s) {Describe(backends)}; delete them first");
            }
        }
    }

    private static string Describe(List<string> names) =>
        names.Count <= 10 ? string.Join(", ", names) : string.Join(", ", names.Take(10)) + $" and {names.Count - 10} more";

    /// <summary>
    /// UNIQUE(Tier, Port) holds at every statement, so listeners that swap ports in one Apply
    /// cannot be updated in any order. Moving listeners are first saved on distinct negative
    /// (never valid) ports, then on their final ports, inside the same transaction.
    /// </summary>
    private static async Task SaveChangesAsync(LbDbContext db, CancellationToken cancellationToken)
    {
        var moved = db.ChangeTracker.Entries<ListenerEntity>()
            .Where(e => e.State == EntityState.Modified && (e.Property(x => x.Port).IsModified || e.Property(x => x.Tier).IsModified))
            .Select(e => e.Entity)
            .OrderBy(l => l.Name, StringComparer.Ordinal)
            .ToList();
        if (moved.Count > 0)
        {
            var targets = moved.Select(l => l.Port).ToList();
            for (var i = 0; i < moved.Count; i++)
            {
                moved[i].Port = -(i + 1);
            }
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < moved.Count; i++)
            {
                moved[i].Port = targets[i];
            }
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task BumpRevisionAsync(LbDbContext db, long expected, long next, CancellationToken cancellationToken)
    {
        // The revision moves last, inside the same transaction: revision order is commit order.
        var rows = await db.Database.ExecuteSqlAsync(
            $"UPDATE Revision SET Value = {next} WHERE Id = 1 AND Value = {expected}", cancellationToken).ConfigureAwait(false);
        if (rows != 1)
        {
            throw new InvalidOperationException($"the store revision moved during a write (expected {expected}); another process writes to the same database");
        }
    }

    private static async Task<Loaded> LoadAsync(LbDbContext db, CancellationToken cancellationToken)
    {
        // The whole configuration is small (hundreds of rows); validating against all of it keeps cross-checks simple and exact.
        return new Loaded
        {
            Revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false),
            Pools = await db.Pools.ToDictionaryAsync(x => x.Name, StringComparer.Ordinal, cancellationToken).ConfigureAwait(false),
            Backends = await db.Backends.ToDictionaryAsync(x => x.Name, StringComparer.Ordinal, cancellationToken).ConfigureAwait(false),
            Listeners = await db.Listeners.ToDictionaryAsync(x => x.Name, StringComparer.Ordinal, cancellationToken).ConfigureAwait(false),
            Certificates = await db.Certificates.ToDictionaryAsync(x => x.Name, StringComparer.Ordinal, cancellationToken).ConfigureAwait(false),
        };
    }

    // ------------------------------------------------------------------ planning and validation

    private List<Pending> Plan(IReadOnlyList<Resource> resources, WriteMode mode, Loaded loaded, out IReadOnlyList<string> warnings)
    {
        var violations = new Violations();
        var pending = new List<Pending>(resources.Count);
        var seen = new HashSet<(ResourceKind, string)>();
        for (var i = 0; i < resources.Count; i++)
        {
            var resource = resources[i];
            if (resource is null || resource.KindCase == Resource.KindOneofCase.None)
            {
                violations.Add($"resources[{i}]", "one of pool, backend, listener or certificate is required");
                continue;
            }
            var (kind, metadata, spec) = Normalize(resource);
            // Messages name the resource as the caller wrote it; the store keeps it lowercased.
            var given = GivenName(resource);
            var prefix = mode == WriteMode.Apply ? $"{kind}/{(given.Length == 0 ? $"[{i}]" : SpecValidator.Clip(given))}: " : "";
            SpecValidator.ValidateMetadata(metadata, violations, prefix, given);
            if (metadata.Name.Length > 0 && !seen.Add((kind, metadata.Name)))
            {
                violations.Add(prefix + "metadata.name", $"{kind} {SpecValidator.Clip(metadata.Name)} appears more than once in this request");
            }
            pending.Add(new Pending { Kind = kind, Name = metadata.Name, Prefix = prefix, Metadata = metadata, Spec = spec });
        }

        // Existence and concurrency are checked only when every name is valid; otherwise the
        // request is refused as INVALID_ARGUMENT with all of its violations, the spec ones included.
        var namesValid = !violations.HasAny;
        foreach (var item in namesValid ? pending : [])
        {
            item.Existing = loaded.Find(item.Kind, item.Name);
            var given = item.Metadata.ResourceVersion;
            switch (mode)
            {
                case WriteMode.Create when item.Existing is not null:
                    throw StoreErrors.AlreadyExists(item.Kind, item.Name);
                case WriteMode.Update when item.Existing is null:
                    throw StoreErrors.NotFound(item.Kind, item.Name);
                case WriteMode.Update when given == 0:
                    throw Violations.Single("metadata.resourceVersion", "required for update");
            }
            if (item.Existing is not null && given != 0 && given != item.Existing.ResourceVersion)
            {
                throw StoreErrors.Stale(item.Kind, item.Name, item.Existing.ResourceVersion, given);
            }
        }

        var view = BuildView(loaded, pending);
        var nowUtc = time.GetUtcNow().UtcDateTime;
        foreach (var item in pending)
        {
            switch (item.Kind)
            {
                case ResourceKind.Pool:
                    SpecValidator.ValidatePool(item.Name, (PoolSpec?)item.Spec, view, violations, item.Prefix);
                    break;
                case ResourceKind.Backend:
                    SpecValidator.ValidateBackend((BackendSpec?)item.Spec, view, violations, item.Prefix);
                    break;
                case ResourceKind.Listener:
                    SpecValidator.ValidateListener(item.Name, (ListenerSpec?)item.Spec, view, violations, item.Prefix);
                    break;
                case ResourceKind.Certificate:
                    ValidateCertificate(item, nowUtc, violations);
                    break;
            }
        }
        violations.ThrowIfAny();
        warnings = violations.Warnings;
        return pending;
    }

    private static StoreView BuildView(Loaded loaded, List<Pending> pending)
    {
        var view = new StoreView();
        foreach (var pool in loaded.Pools.Values)
        {
            view.Pools[pool.Name] = ProtoJson.Parse<PoolSpec>(pool.SpecJson);
        }
        foreach (var listener in loaded.Listeners.Values)
        {
            view.Listeners[listener.Name] = ProtoJson.Parse<ListenerSpec>(listener.SpecJson);
        }
        view.Certificates.UnionWith(loaded.Certificates.Keys);
        foreach (var item in pending)
        {
            switch (item.Kind)
            {
                case ResourceKind.Pool:
                    view.Pools[item.Name] = (PoolSpec?)item.Spec ?? new PoolSpec();
                    break;
                case ResourceKind.Listener:
                    view.Listeners[item.Name] = (ListenerSpec?)item.Spec ?? new ListenerSpec();
                    break;
                case ResourceKind.Certificate:
                    view.Certificates.Add(item.Name);
                    break;
            }
        }
        return view;
    }

    private static void ValidateCertificate(Pending item, DateTime nowUtc, Violations violations)
    {
        var p = item.Prefix + "spec.";
        if (item.Spec is not CertificateSpec spec)
        {
            violations.Add(item.Prefix + "spec", "required");
            return;
        }
        if (spec.CertificatePem.Length == 0)
        {
            violations.Add(p + "certificatePem", "required");
            return;
        }
        var info = CertificateInspector.InspectChain(spec.CertificatePem, nowUtc, violations, p + "certificatePem");
        if (info is null)
        {
            return;
        }
        if (spec.PrivateKeyPem.Length > 0)
        {
            if (CertificateInspector.CheckPrivateKey(spec.PrivateKeyPem, info, violations, p + "privateKeyPem"))
            {
                item.Certificate = info;
                item.PrivateKeyPem = spec.PrivateKeyPem;
            }
            return;
        }
        if (item.Existing is not CertificateEntity existing)
        {
            violations.Add(p + "privateKeyPem", "required when creating a certificate");
            return;
        }
        var stored = ProtoJson.Parse<CertificateSpec>(existing.SpecJson);
        if (!CertificateInspector.LeafPublicKeyInfo(stored.CertificatePem).AsSpan().SequenceEqual(info.LeafPublicKeyInfo))
        {
            violations.Add(p + "privateKeyPem", "required because the certificate's public key changed");
            return;
        }
        item.Certificate = info;
    }

    /// <summary>Lowercases names and references; returns a copy so the caller's message is untouched.</summary>
    private static (ResourceKind Kind, ObjectMeta Metadata, IMessage? Spec) Normalize(Resource resource)
    {
        switch (resource.KindCase)
        {
            case Resource.KindOneofCase.Pool:
                return (ResourceKind.Pool, NormalizeMeta(resource.Pool.Metadata), resource.Pool.Spec?.Clone());
            case Resource.KindOneofCase.Backend:
            {
                var spec = resource.Backend.Spec?.Clone();
                if (spec is not null)
                {
                    spec.Pool = spec.Pool.ToLowerInvariant();
                }
                return (ResourceKind.Backend, NormalizeMeta(resource.Backend.Metadata), spec);
            }
            case Resource.KindOneofCase.Listener:
            {
                var spec = resource.Listener.Spec?.Clone();
                if (spec is not null)
                {
                    spec.Tier = spec.Tier.ToLowerInvariant();
                    spec.Pool = spec.Pool.ToLowerInvariant();
                    LowerAll(spec.Certificates);
                    foreach (var route in spec.Routes)
                    {
                        route.Pool = route.Pool.ToLowerInvariant();
                        LowerAll(route.Hosts);
                        foreach (var backend in route.Backends)
                        {
                            backend.Pool = backend.Pool.ToLowerInvariant();
                        }
                        foreach (var filter in route.Filters)
                        {
                            if (filter.RequestRedirect is { } redirect)
                            {
                                redirect.Hostname = redirect.Hostname.ToLowerInvariant();
                            }
                            if (filter.UrlRewrite is { } rewrite)
                            {
                                rewrite.Hostname = rewrite.Hostname.ToLowerInvariant();
                            }
                        }
                    }
                }
                return (ResourceKind.Listener, NormalizeMeta(resource.Listener.Metadata), spec);
            }
            case Resource.KindOneofCase.Certificate:
                return (ResourceKind.Certificate, NormalizeMeta(resource.Certificate.Metadata), resource.Certificate.Spec?.Clone());
            default:
                throw new ArgumentOutOfRangeException(nameof(resource), resource.KindCase, "unknown resource kind");
        }
    }

    private static string GivenName(Resource resource) => resource.KindCase switch
    {
        Resource.KindOneofCase.Pool => resource.Pool.Metadata?.Name,
        Resource.KindOneofCase.Backend => resource.Backend.Metadata?.Name,
        Resource.KindOneofCase.Listener => resource.Listener.Metadata?.Name,
        Resource.KindOneofCase.Certificate => resource.Certificate.Metadata?.Name,
        _ => null,
    } ?? "";

    private static ObjectMeta NormalizeMeta(ObjectMeta? metadata)
    {
        var copy = metadata?.Clone() ?? new ObjectMeta();
        copy.Name = copy.Name.ToLowerInvariant();
        return copy;
    }

    private static void LowerAll(RepeatedField<string> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            values[i] = values[i].ToLowerInvariant();
        }
    }

    // ------------------------------------------------------------------ staging rows

    private string Stage(LbDbContext db, Pending item, long newRevision, DateTime now, Loaded loaded)
    {
        var labelsJson = LabelsToJson(item.Metadata.Labels);
        var spec = item.Spec!;
        if (spec is CertificateSpec certificateSpec)
        {
            // The key is write-only: it lives encrypted in its own column, never in SpecJson.
            spec = new CertificateSpec { CertificatePem = certificateSpec.CertificatePem };
        }
        var specJson = ProtoJson.Format(spec);
        var existing = item.Existing;
        if (existing is null)
        {
            ResourceEntity entity = item.Kind switch
            {
                ResourceKind.Pool => new PoolEntity { SessionKey = secrets.ProtectSessionKey(RandomNumberGenerator.GetBytes(PoolEntity.SessionKeySize), item.Name) },
                ResourceKind.Backend => new BackendEntity(),
                ResourceKind.Listener => new ListenerEntity(),
                ResourceKind.Certificate => new CertificateEntity(),
                _ => throw new InvalidOperationException($"cannot create {item.Kind}"),
            };
            entity.Name = item.Name;
            entity.Uid = Guid.NewGuid().ToString();
            entity.ResourceVersion = newRevision;
            entity.Generation = 1;
            entity.CreatedAt = now;
            entity.UpdatedAt = now;
            entity.LabelsJson = labelsJson;
            entity.SpecJson = specJson;
            SetKindColumns(entity, item);
            db.Add(entity);
            switch (entity)
            {
                case PoolEntity pool: loaded.Pools[pool.Name] = pool; break;
                case BackendEntity backend: loaded.Backends[backend.Name] = backend; break;
                case ListenerEntity listener: loaded.Listeners[listener.Name] = listener; break;
                case CertificateEntity certificate: loaded.Certificates[certificate.Name] = certificate; break;
            }
            return ApplyActions.Created;
        }

        var specChanged = !SpecEquals(item.Kind, existing.SpecJson, spec);
        if (!specChanged && existing is CertificateEntity stored && item.PrivateKeyPem is not null)
        {
            specChanged = !string.Equals(secrets.Unprotect(stored.EncryptedPrivateKey, stored.Name).Trim(), item.PrivateKeyPem.Trim(), StringComparison.Ordinal);
        }
        var labelsChanged = existing.LabelsJson != labelsJson;
        if (!specChanged && !labelsChanged)
        {
            return ApplyActions.Unchanged;
        }
        existing.ResourceVersion = newRevision;
        existing.UpdatedAt = now;
        existing.LabelsJson = labelsJson;
        if (specChanged)
        {
            existing.Generation++;
            existing.SpecJson = specJson;
            SetKindColumns(existing, item);
        }
        return ApplyActions.Configured;
    }

    private void SetKindColumns(ResourceEntity entity, Pending item)
    {
        switch (entity)
        {
            case BackendEntity backend:
                backend.Pool = ((BackendSpec)item.Spec!).Pool;
                break;
            case ListenerEntity listener:
                var listenerSpec = (ListenerSpec)item.Spec!;
                listener.Tier = listenerSpec.Tier;
                listener.Port = listenerSpec.Port;
                break;
            case CertificateEntity certificate:
                var info = item.Certificate ?? throw new InvalidOperationException("certificate was not inspected");
                if (item.PrivateKeyPem is not null)
                {
                    certificate.EncryptedPrivateKey = secrets.Protect(item.PrivateKeyPem, certificate.Name);
                }
                SetInspected(certificate, info);
                break;
        }
    }

    /// <summary>What inspecting a certificate found, into its row's columns (writes and rollbacks alike).</summary>
    internal static void SetInspected(CertificateEntity certificate, CertificateInfo info)
    {
        certificate.Subject = info.Subject;
        certificate.DnsNamesJson = JsonSerializer.Serialize(info.DnsNames.ToList(), StoreJsonContext.Default.ListString);
        certificate.Issuer = info.Issuer;
        certificate.NotBefore = info.NotBefore;
        certificate.NotAfter = info.NotAfter;
        certificate.FingerprintSha256 = info.FingerprintSha256;
    }

    private static bool SpecEquals(ResourceKind kind, string storedJson, IMessage spec)
    {
        // Fields this server does not know are never stored, so they cannot make a spec "changed".
        var known = spec.Descriptor.Parser.WithDiscardUnknownFields(true).ParseFrom(spec.ToByteString());
        return kind switch
        {
            ResourceKind.Pool => ProtoJson.Parse<PoolSpec>(storedJson).Equals(known),
            ResourceKind.Backend => ProtoJson.Parse<BackendSpec>(storedJson).Equals(known),
            ResourceKind.Listener => ProtoJson.Parse<ListenerSpec>(storedJson).Equals(known),
            ResourceKind.Certificate => ProtoJson.Parse<CertificateSpec>(storedJson).Equals(known),
            _ => false,
        };
    }

    public static string LabelsToJson(IEnumerable<KeyValuePair<string, string>> labels) =>
        JsonSerializer.Serialize(new SortedDictionary<string, string>(labels.ToDictionary(), StringComparer.Ordinal), StoreJsonContext.Default.SortedDictionaryStringString);

    public static SortedDictionary<string, string> LabelsFromJson(string json) =>
        string.IsNullOrWhiteSpace(json)
            ? new SortedDictionary<string, string>(StringComparer.Ordinal)
            : JsonSerializer.Deserialize(json, StoreJsonContext.Default.SortedDictionaryStringString) ?? new SortedDictionary<string, string>(StringComparer.Ordinal);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Committed revision {Revision} ({Count} resource(s) changed)")]
    private partial void LogCommitted(long revision, int count);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Committed revision {Revision}: deleted {Kind} {Name}")]
    private partial void LogDeleted(long revision, ResourceKind kind, string name);
}
