using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Common.Versioning;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// The management API: a thin adapter from gRPC to <see cref="IResourceWriter"/> (writes) and
/// <see cref="IStoreReader"/> (reads, each request from one view). Refusals are the store's and
/// validation's exceptions, turned into gRPC statuses by <see cref="Hosting.RpcErrorInterceptor"/>.
/// </summary>
public sealed class ManagementService(
    IResourceWriter store,
    IStoreReader reader,
    IAgentStateStore agentRows,
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
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = view.Revision;
        var entities = await view.ListAsync<PoolEntity>(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(view, context.CancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var entity = await view.FindAsync<PoolEntity>(name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Pool, name);
        var status = await LoadStatusAsync(view, cancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = view.Revision;
        var entities = await view.ListAsync<BackendEntity>(context.CancellationToken).ConfigureAwait(false);
        var status = await StatusBuilder.LoadAsync(view, agentState, time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var entity = await view.FindAsync<BackendEntity>(name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Backend, name);
        var status = await StatusBuilder.LoadAsync(view, agentState, time.GetUtcNow().UtcDateTime, cancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = view.Revision;
        var entities = await view.ListAsync<ListenerEntity>(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(view, context.CancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var entity = await view.FindAsync<ListenerEntity>(name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Listener, name);
        var status = await LoadStatusAsync(view, cancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = view.Revision;
        var entities = await view.ListAsync<CertificateEntity>(context.CancellationToken).ConfigureAwait(false);
        var status = await LoadStatusAsync(view, context.CancellationToken).ConfigureAwait(false);
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
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var entity = await view.FindAsync<CertificateEntity>(name, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Certificate, name);
        var status = await LoadStatusAsync(view, cancellationToken).ConfigureAwait(false);
        return status.Fill(ResourceMapper.ToCertificate(entity), entity);
    }

    // ------------------------------------------------------------------ Agent

    public override async Task<Agent> GetAgent(GetRequest request, ServerCallContext context)
    {
        var name = RequireName(request.Name);
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var entity = await view.FindAgentAsync(name, context.CancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Agent, name);
        agentState.Overlay(entity);
        return ResourceMapper.ToAgent(entity);
    }

    public override async Task<AgentConfig> GetAgentConfig(GetRequest request, ServerCallContext context)
    {
        var name = RequireName(request.Name);
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var entity = await view.FindAgentAsync(name, context.CancellationToken).ConfigureAwait(false)
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
        await using var view = await reader.OpenViewAsync(context.CancellationToken).ConfigureAwait(false);
        var revision = view.Revision;
        var entities = await view.AgentsAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var entity in entities)
        {
            agentState.Overlay(entity);
        }
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
        var revision = await agentRows.DeleteAsync(name, request.DryRun, Caller.Of(context), time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false);
        return new DeleteResponse { Revision = revision };
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
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var response = new StatusResponse
        {
            Revision = view.Revision,
            Version = Build.Version,
            Commit = Build.Commit ?? "",
            Pools = await view.CountAsync<PoolEntity>(cancellationToken).ConfigureAwait(false),
            Backends = await view.CountAsync<BackendEntity>(cancellationToken).ConfigureAwait(false),
            Listeners = await view.CountAsync<ListenerEntity>(cancellationToken).ConfigureAwait(false),
            Certificates = await view.CountAsync<CertificateEntity>(cancellationToken).ConfigureAwait(false),
        };
        var listenerTiers = (await view.ListAsync<ListenerEntity>(cancellationToken).ConfigureAwait(false)).Select(l => l.Tier).ToList();
        var agents = await view.AgentsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var agent in agents)
        {
            agentState.Overlay(agent);
        }
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

    private Task<StatusBuilder> LoadStatusAsync(IStoreView view, CancellationToken cancellationToken) =>
        StatusBuilder.LoadAsync(view, agentState, time.GetUtcNow().UtcDateTime, cancellationToken);

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
