using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Common.Versioning;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// The management API: a thin adapter from gRPC to <see cref="ResourceStore"/> (writes) and
/// the DbContext (reads). Every refusal is an <see cref="RpcException"/> raised by the store or validation.
/// </summary>
public sealed class ManagementService(
    ResourceStore store,
    IDbContextFactory<LbDbContext> dbFactory,
    ITierStatusSource tierStatus,
    IAgentStateOverlay agentState,
    TimeProvider time) : LoadBalancer.Api.V1.Management.ManagementBase
{
    private static readonly BuildInfo Build = BuildInfo.Of<ManagementService>();

    // ------------------------------------------------------------------ Pool

    public override async Task<Pool> CreatePool(WritePoolRequest request, ServerCallContext context)
    {
        var result = await store.CreateAsync(new Resource { Pool = Require(request.Pool, "pool") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await PoolResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task<Pool> UpdatePool(WritePoolRequest request, ServerCallContext context)
    {
        var result = await store.UpdateAsync(new Resource { Pool = Require(request.Pool, "pool") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await PoolResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override Task<Pool> GetPool(GetRequest request, ServerCallContext context) =>
        GetPoolAsync(RequireName(request.Name), context.CancellationToken);

    public override async Task<PoolList> ListPools(ListRequest request, ServerCallContext context)
    {
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
        var entities = await db.Pools.AsNoTracking().OrderBy(p => p.Name).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(db, context.CancellationToken).ConfigureAwait(false);
        var list = new PoolList { Revision = revision };
        list.Items.AddRange(entities.Where(e => ResourceMapper.MatchesSelector(e.LabelsJson, request.LabelSelector))
            .Select(e => status.Fill(ResourceMapper.ToPool(e))));
        return list;
    }

    public override Task<DeleteResponse> DeletePool(DeleteRequest request, ServerCallContext context) =>
        DeleteAsync(ResourceKind.Pool, request, context);

    private async Task<Pool> PoolResultAsync(WriteResult result, CancellationToken cancellationToken)
    {
        var written = result.Resources[0];
        return result.DryRun
            ? ResourceMapper.ToPool((PoolEntity)written.Entity)
            : await GetPoolAsync(written.Name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Pool> GetPoolAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var entity = await db.Pools.AsNoTracking().SingleOrDefaultAsync(p => p.Name == name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Pool, name);
        var status = await LoadStatusAsync(db, cancellationToken).ConfigureAwait(false);
        return status.Fill(ResourceMapper.ToPool(entity));
    }

    // ------------------------------------------------------------------ Backend

    public override async Task<Backend> CreateBackend(WriteBackendRequest request, ServerCallContext context)
    {
        var result = await store.CreateAsync(new Resource { Backend = Require(request.Backend, "backend") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await BackendResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task<Backend> UpdateBackend(WriteBackendRequest request, ServerCallContext context)
    {
        var result = await store.UpdateAsync(new Resource { Backend = Require(request.Backend, "backend") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await BackendResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override Task<Backend> GetBackend(GetRequest request, ServerCallContext context) =>
        GetBackendAsync(RequireName(request.Name), context.CancellationToken);

    public override async Task<BackendList> ListBackends(ListRequest request, ServerCallContext context)
    {
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
        var entities = await db.Backends.AsNoTracking().OrderBy(b => b.Name).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        var status = await StatusBuilder.LoadAsync(db, agentState, time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false);
        var list = new BackendList { Revision = revision };
        list.Items.AddRange(entities.Where(e => ResourceMapper.MatchesSelector(e.LabelsJson, request.LabelSelector))
            .Select(e => status.Fill(ResourceMapper.ToBackend(e))));
        return list;
    }

    public override Task<DeleteResponse> DeleteBackend(DeleteRequest request, ServerCallContext context) =>
        DeleteAsync(ResourceKind.Backend, request, context);

    private async Task<Backend> BackendResultAsync(WriteResult result, CancellationToken cancellationToken)
    {
        var written = result.Resources[0];
        return result.DryRun
            ? ResourceMapper.ToBackend((BackendEntity)written.Entity)
            : await GetBackendAsync(written.Name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Backend> GetBackendAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var entity = await db.Backends.AsNoTracking().SingleOrDefaultAsync(b => b.Name == name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Backend, name);
        var status = await StatusBuilder.LoadAsync(db, agentState, time.GetUtcNow().UtcDateTime, cancellationToken).ConfigureAwait(false);
        return status.Fill(ResourceMapper.ToBackend(entity));
    }

    // ------------------------------------------------------------------ Listener

    public override async Task<Listener> CreateListener(WriteListenerRequest request, ServerCallContext context)
    {
        var result = await store.CreateAsync(new Resource { Listener = Require(request.Listener, "listener") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await ListenerResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task<Listener> UpdateListener(WriteListenerRequest request, ServerCallContext context)
    {
        var result = await store.UpdateAsync(new Resource { Listener = Require(request.Listener, "listener") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await ListenerResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override Task<Listener> GetListener(GetRequest request, ServerCallContext context) =>
        GetListenerAsync(RequireName(request.Name), context.CancellationToken);

    public override async Task<ListenerList> ListListeners(ListRequest request, ServerCallContext context)
    {
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
        var entities = await db.Listeners.AsNoTracking().OrderBy(l => l.Name).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(db, context.CancellationToken).ConfigureAwait(false);
        var list = new ListenerList { Revision = revision };
        list.Items.AddRange(entities.Where(e => ResourceMapper.MatchesSelector(e.LabelsJson, request.LabelSelector))
            .Select(e => status.Fill(ResourceMapper.ToListener(e), e)));
        return list;
    }

    public override Task<DeleteResponse> DeleteListener(DeleteRequest request, ServerCallContext context) =>
        DeleteAsync(ResourceKind.Listener, request, context);

    private async Task<Listener> ListenerResultAsync(WriteResult result, CancellationToken cancellationToken)
    {
        var written = result.Resources[0];
        return result.DryRun
            ? ResourceMapper.ToListener((ListenerEntity)written.Entity)
            : await GetListenerAsync(written.Name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Listener> GetListenerAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var entity = await db.Listeners.AsNoTracking().SingleOrDefaultAsync(l => l.Name == name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Listener, name);
        var status = await LoadStatusAsync(db, cancellationToken).ConfigureAwait(false);
        return status.Fill(ResourceMapper.ToListener(entity), entity);
    }

    // ------------------------------------------------------------------ Certificate

    public override async Task<Certificate> CreateCertificate(WriteCertificateRequest request, ServerCallContext context)
    {
        var result = await store.CreateAsync(new Resource { Certificate = Require(request.Certificate, "certificate") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await CertificateResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task<Certificate> UpdateCertificate(WriteCertificateRequest request, ServerCallContext context)
    {
        var result = await store.UpdateAsync(new Resource { Certificate = Require(request.Certificate, "certificate") }, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        return await CertificateResultAsync(result, context.CancellationToken).ConfigureAwait(false);
    }

    public override Task<Certificate> GetCertificate(GetRequest request, ServerCallContext context) =>
        GetCertificateAsync(RequireName(request.Name), context.CancellationToken);

    public override async Task<CertificateList> ListCertificates(ListRequest request, ServerCallContext context)
    {
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
        var entities = await db.Certificates.AsNoTracking().OrderBy(c => c.Name).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(db, context.CancellationToken).ConfigureAwait(false);
        var list = new CertificateList { Revision = revision };
        list.Items.AddRange(entities.Where(e => ResourceMapper.MatchesSelector(e.LabelsJson, request.LabelSelector))
            .Select(e => status.Fill(ResourceMapper.ToCertificate(e), e)));
        return list;
    }

    public override Task<DeleteResponse> DeleteCertificate(DeleteRequest request, ServerCallContext context) =>
        DeleteAsync(ResourceKind.Certificate, request, context);

    private async Task<Certificate> CertificateResultAsync(WriteResult result, CancellationToken cancellationToken)
    {
        var written = result.Resources[0];
        return result.DryRun
            ? ResourceMapper.ToCertificate((CertificateEntity)written.Entity)
            : await GetCertificateAsync(written.Name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Certificate> GetCertificateAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var entity = await db.Certificates.AsNoTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Certificate, name);
        var status = await LoadStatusAsync(db, cancellationToken).ConfigureAwait(false);
        return status.Fill(ResourceMapper.ToCertificate(entity), entity);
    }

    // ------------------------------------------------------------------ Agent

    public override async Task<Agent> GetAgent(GetRequest request, ServerCallContext context)
    {
        var name = RequireName(request.Name);
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var entity = await db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Name == name, context.CancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Agent, name);
        agentState.Overlay(entity);
        return ResourceMapper.ToAgent(entity);
    }

    public override async Task<AgentConfig> GetAgentConfig(GetRequest request, ServerCallContext context)
    {
        var name = RequireName(request.Name);
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var entity = await db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Name == name, context.CancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Agent, name);
        agentState.Overlay(entity);
        var config = new AgentConfig { Agent = entity.Name, Tier = entity.Tier, AppliedRevision = entity.AppliedRevision, AppliedHash = entity.AppliedHash };
        if (tierStatus.Get(entity.Tier) is { } stored)
        {
            config.StoredRevision = stored.Revision;
            config.StoredHash = stored.Hash;
            config.StoredJson = tierStatus.Find(entity.Tier, stored.Hash) is { } storedData ? Snapshots.SnapshotJson.Redacted(storedData) : "";
        }
        config.InSync = config.AppliedHash.Length > 0 && config.AppliedHash == config.StoredHash;
        if (config.AppliedHash.Length > 0 && tierStatus.Find(entity.Tier, config.AppliedHash) is { } applied)
        {
            config.AppliedJson = Snapshots.SnapshotJson.Redacted(applied);
        }
        return config;
    }

    public override async Task<CertificateKey> ExportCertificateKey(GetRequest request, ServerCallContext context)
    {
        NoStore(context);
        var (pem, fingerprint) = await store.ExportPrivateKeyAsync(RequireName(request.Name), Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        return new CertificateKey { Name = request.Name.ToLowerInvariant(), PrivateKeyPem = pem, FingerprintSha256 = fingerprint };
    }

    public override async Task<AgentList> ListAgents(ListRequest request, ServerCallContext context)
    {
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
        var entities = await db.Agents.AsNoTracking().OrderBy(a => a.Name).ToListAsync(context.CancellationToken).ConfigureAwait(false);
        entities.ForEach(agentState.Overlay);
        var list = new AgentList { Revision = revision };
        // Agents have no labels; the only selectable attribute is the tier ("tier" key).
        list.Items.AddRange(entities
            .Where(e => request.LabelSelector.All(s => s.Key == "tier" && s.Value == e.Tier))
            .Select(ResourceMapper.ToAgent));
        return list;
    }

    /// <summary>Forgets an agent that is gone; a connected agent would re-register at once, so it is refused.</summary>
    public override async Task<DeleteResponse> DeleteAgent(DeleteRequest request, ServerCallContext context)
    {
        var name = RequireName(request.Name);
        await using var db = await dbFactory.CreateDbContextAsync(context.CancellationToken).ConfigureAwait(false);
        var entity = await db.Agents.SingleOrDefaultAsync(a => a.Name == name, context.CancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Agent, name);
        if (entity.Connected)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Agent {name} is connected; stop it before deleting it"));
        }
        if (!request.DryRun)
        {
            db.Agents.Remove(entity);
            // Forgetting an agent is a write like any other: who did it, from where, in the same transaction.
            var revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false);
            db.ChangeLog.Add(ResourceStore.AuditEntry(Caller.Of(context), revision, ResourceKind.Agent.ToString(), name, "delete", 0, 0, time.GetUtcNow().UtcDateTime));
            await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
        }
        return new DeleteResponse { Revision = await StoreRevision.GetAsync(db, context.CancellationToken).ConfigureAwait(false) };
    }

    /// <summary>
    /// Responses that carry a secret (a key export, a new token's bearer) must not be kept by a
    /// cache or proxy between caller and API; the header set on the HTTP response covers gRPC and
    /// its REST face alike, as both answer through it.
    /// </summary>
    internal static void NoStore(ServerCallContext context) =>
        context.GetHttpContext().Response.Headers.CacheControl = "no-store";

    /// <summary>
    /// Warnings travel as <c>lb-warning</c> response headers (one per warning, as Kubernetes'
    /// Warning header), so every write answers them the same way over gRPC and REST without a
    /// field in each response message. Header values must be printable ASCII.
    /// </summary>
    public const string WarningHeader = "lb-warning";

    private static Task WriteWarningsAsync(WriteResult result, ServerCallContext context)
    {
        if (result.Warnings.Count == 0)
        {
            return Task.CompletedTask;
        }
        var headers = new Metadata();
        foreach (var warning in result.Warnings)
        {
            headers.Add(WarningHeader, new string(warning.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray()));
        }
        return context.WriteResponseHeadersAsync(headers);
    }

    // ------------------------------------------------------------------ Apply and status

    public override async Task<ApplyResponse> Apply(ApplyRequest request, ServerCallContext context)
    {
        var result = await store.ApplyAsync(request.Resources, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        await WriteWarningsAsync(result, context).ConfigureAwait(false);
        var response = new ApplyResponse { Revision = result.Revision, DryRun = result.DryRun };
        response.Results.AddRange(result.Resources.Select(r => new ApplyResult
        {
            Kind = r.Kind.ToString(),
            Name = r.Name,
            Action = r.Action,
            ResourceVersion = r.ResourceVersion,
        }));
        return response;
    }

    public override async Task<StatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var response = new StatusResponse
        {
            Revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false),
            Version = Build.Version,
            Commit = Build.Commit ?? "",
            Pools = await db.Pools.CountAsync(cancellationToken).ConfigureAwait(false),
            Backends = await db.Backends.CountAsync(cancellationToken).ConfigureAwait(false),
            Listeners = await db.Listeners.CountAsync(cancellationToken).ConfigureAwait(false),
            Certificates = await db.Certificates.CountAsync(cancellationToken).ConfigureAwait(false),
        };
        var listenerTiers = await db.Listeners.AsNoTracking().Select(l => l.Tier).ToListAsync(cancellationToken).ConfigureAwait(false);
        var agents = await db.Agents.AsNoTracking().ToListAsync(cancellationToken).ConfigureAwait(false);
        agents.ForEach(agentState.Overlay);
        var tiers = listenerTiers.Concat(agents.Select(a => a.Tier)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var tier in tiers)
        {
            var tierAgents = agents.Where(a => a.Tier == tier).ToList();
            var connected = tierAgents.Where(a => a.Connected).ToList();
            var published = tierStatus.Get(tier);
            response.Tiers.Add(new TierStatus
            {
                Tier = tier,
                Revision = published?.Revision ?? 0,
                SnapshotHash = published?.Hash ?? "",
                AgentsTotal = tierAgents.Count,
                AgentsConnected = connected.Count,
                AgentsInSync = published is { Hash.Length: > 0 } p ? connected.Count(a => a.AppliedHash == p.Hash) : 0,
                Listeners = listenerTiers.Count(t => t == tier),
            });
        }
        return response;
    }

    // ------------------------------------------------------------------ helpers

    private async Task<DeleteResponse> DeleteAsync(ResourceKind kind, DeleteRequest request, ServerCallContext context)
    {
        var revision = await store.DeleteAsync(kind, request.Name, request.ResourceVersion, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        return new DeleteResponse { Revision = revision };
    }

    private Task<StatusBuilder> LoadStatusAsync(LbDbContext db, CancellationToken cancellationToken) =>
        StatusBuilder.LoadAsync(db, agentState, time.GetUtcNow().UtcDateTime, cancellationToken);

    private static T Require<T>(T? message, string field) where T : class =>
        message ?? throw Violations.Single(field, "required");

    private static string RequireName(string name)
    {
        var lowered = (name ?? "").ToLowerInvariant();
        if (!Names.IsDnsLabel(lowered))
        {
            throw Violations.Single("name", lowered.Length == 0 ? "required" : $"'{SpecValidator.Clip(lowered)}' is not a DNS label");
        }
        return lowered;
    }
}
