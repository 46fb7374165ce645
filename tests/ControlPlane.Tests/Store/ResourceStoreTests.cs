using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Store;

public sealed class ResourceStoreTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync() => _f = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private ServerCallContext Ctx => _f.Context;

    [Fact]
    public async Task Migrations_CreateRevisionRowAtZero()
    {
        Assert.Equal(0, await _f.RevisionAsync());
    }

    [Fact]
    public async Task EachWrite_BumpsRevisionExactlyOnce_AndNotifiesTheFeed()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        Assert.Equal(1, await _f.RevisionAsync());
        Assert.Equal(1, _f.Feed.Revision);
        Assert.Equal(1, pool.Metadata.ResourceVersion);

        var backend = await _f.Service.CreateBackend(new WriteBackendRequest { Backend = Backend("web-1", "web") }, Ctx);
        Assert.Equal(2, await _f.RevisionAsync());
        Assert.Equal(2, backend.Metadata.ResourceVersion);

        backend.Spec.Weight = 5;
        var updated = await _f.Service.UpdateBackend(new WriteBackendRequest { Backend = backend }, Ctx);
        Assert.Equal(3, await _f.RevisionAsync());
        Assert.Equal(3, updated.Metadata.ResourceVersion);
        Assert.Equal(2, updated.Metadata.Generation);

        await _f.Service.DeleteBackend(new DeleteRequest { Name = "web-1" }, Ctx);
        Assert.Equal(4, await _f.RevisionAsync());
        Assert.Equal(4, _f.Feed.Revision);

        var log = await _f.WithDbAsync(db => db.ChangeLog.OrderBy(c => c.Id).ToListAsync());
        Assert.Equal(
            ["1 Pool web create", "2 Backend web-1 create", "3 Backend web-1 update", "4 Backend web-1 delete"],
            log.Select(c => $"{c.Revision} {c.Kind} {c.Name} {c.Operation}"));
    }

    [Fact]
    public async Task Update_LabelsOnly_BumpsResourceVersionButNotGeneration()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        pool.Metadata.Labels.Add("team", "web");
        pool.Status = null;
        var updated = await _f.Service.UpdatePool(new WritePoolRequest { Pool = pool }, Ctx);
        Assert.Equal(2, updated.Metadata.ResourceVersion);
        Assert.Equal(1, updated.Metadata.Generation);
        Assert.Equal("web", updated.Metadata.Labels["team"]);
    }

    [Fact]
    public async Task Update_Unchanged_DoesNotBumpRevision()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var again = await _f.Service.UpdatePool(new WritePoolRequest { Pool = pool }, Ctx);
        Assert.Equal(1, again.Metadata.ResourceVersion);
        Assert.Equal(1, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Update_WithoutResourceVersion_IsRejectedWithFieldViolation()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var description = await RpcAssert.FieldViolationAsync(
            () => _f.Service.UpdatePool(new WritePoolRequest { Pool = Pool("web", "https") }, Ctx), "metadata.resourceVersion");
        Assert.Equal("required for update", description);
    }

    [Fact]
    public async Task Update_StaleResourceVersion_IsAbortedAndChangesNothing()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        pool.Spec.Algorithm = "random";
        await _f.Service.UpdatePool(new WritePoolRequest { Pool = pool }, Ctx);

        var stale = Pool("web", "http", s => s.Algorithm = "least-connections");
        stale.Metadata.ResourceVersion = 1;
        var ex = await RpcAssert.StatusAsync(() => _f.Service.UpdatePool(new WritePoolRequest { Pool = stale }, Ctx), StatusCode.Aborted);
        Assert.Contains("resourceVersion is 2", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("carried 1", ex.Status.Detail, StringComparison.Ordinal);

        var current = await _f.Service.GetPool(new GetRequest { Name = "web" }, Ctx);
        Assert.Equal("random", current.Spec.Algorithm);
        Assert.Equal(2, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Update_Missing_IsNotFound()
    {
        var pool = Pool("web");
        pool.Metadata.ResourceVersion = 1;
        await RpcAssert.StatusAsync(() => _f.Service.UpdatePool(new WritePoolRequest { Pool = pool }, Ctx), StatusCode.NotFound);
    }

    [Fact]
    public async Task Create_Existing_IsAlreadyExists()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        await RpcAssert.StatusAsync(() => _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx), StatusCode.AlreadyExists);
        Assert.Equal(1, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Get_Unknown_IsNotFound()
    {
        await RpcAssert.StatusAsync(() => _f.Service.GetPool(new GetRequest { Name = "nope" }, Ctx), StatusCode.NotFound);
        await RpcAssert.StatusAsync(() => _f.Service.DeletePool(new DeleteRequest { Name = "nope" }, Ctx), StatusCode.NotFound);
    }

    [Fact]
    public async Task Apply_CreatesInOneRevision_ThenReportsUnchangedAndConfigured()
    {
        var resources = new[] { R(Pool("web")), R(Backend("web-1", "web")), R(Backend("web-2", "web", "127.0.0.1:9102")), R(HttpListener("public", "edge", 8080, "web")) };
        var first = await _f.Service.Apply(new ApplyRequest { Resources = { resources } }, Ctx);
        Assert.Equal(1, first.Revision);
        Assert.All(first.Results, r => Assert.Equal("created", r.Action));
        Assert.All(first.Results, r => Assert.Equal(1, r.ResourceVersion));

        var second = await _f.Service.Apply(new ApplyRequest { Resources = { resources } }, Ctx);
        Assert.Equal(1, second.Revision);
        Assert.All(second.Results, r => Assert.Equal("unchanged", r.Action));

        var changed = resources.Select(r => r.Clone()).ToArray();
        changed[1].Backend.Spec.Weight = 3;
        var third = await _f.Service.Apply(new ApplyRequest { Resources = { changed } }, Ctx);
        Assert.Equal(2, third.Revision);
        Assert.Equal(["unchanged", "configured", "unchanged", "unchanged"], third.Results.Select(r => r.Action));
        Assert.Equal(2, third.Results[1].ResourceVersion);
        Assert.Equal(2, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Apply_OneInvalidResource_ChangesNothing()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var ex = await RpcAssert.StatusAsync(() => _f.Service.Apply(new ApplyRequest
        {
            Resources = { R(Pool("api")), R(Backend("api-1", "api")), R(Backend("api-2", "api", change: s => s.Weight = 0)) },
        }, Ctx), StatusCode.InvalidArgument);
        Assert.Contains(RpcAssert.Violations(ex), v => v.Field == "Backend/api-2: spec.weight");

        Assert.Equal(1, await _f.RevisionAsync());
        Assert.Equal(1, await _f.WithDbAsync(db => db.Pools.CountAsync()));
        Assert.Equal(0, await _f.WithDbAsync(db => db.Backends.CountAsync()));
        Assert.Equal(1, await _f.WithDbAsync(db => db.ChangeLog.CountAsync()));
    }

    [Fact]
    public async Task Apply_StaleResourceVersion_IsAbortedAndChangesNothing()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var stale = Pool("web", "https");
        stale.Metadata.ResourceVersion = 7;
        await RpcAssert.StatusAsync(() => _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("other")), R(stale) } }, Ctx), StatusCode.Aborted);
        Assert.Equal(1, await _f.RevisionAsync());
        Assert.Equal(1, await _f.WithDbAsync(db => db.Pools.CountAsync()));
    }

    [Fact]
    public async Task Apply_DuplicateResource_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(Pool("web")) } }, Ctx), "Pool/web: metadata.name");
    }

    [Fact]
    public async Task Apply_DryRun_WritesNothing()
    {
        var response = await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(Backend("web-1", "web")) }, DryRun = true }, Ctx);
        Assert.True(response.DryRun);
        Assert.All(response.Results, r => Assert.Equal("created", r.Action));
        Assert.Equal(0, await _f.RevisionAsync());
        Assert.Equal(0, _f.Feed.Revision);
        Assert.Equal(0, await _f.WithDbAsync(db => db.Pools.CountAsync()));
        Assert.Equal(0, await _f.WithDbAsync(db => db.ChangeLog.CountAsync()));
    }

    [Fact]
    public async Task Create_DryRun_ReturnsResourceButWritesNothing()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web"), DryRun = true }, Ctx);
        Assert.Equal("web", pool.Metadata.Name);
        Assert.Equal(0, await _f.RevisionAsync());
        await RpcAssert.StatusAsync(() => _f.Service.GetPool(new GetRequest { Name = "web" }, Ctx), StatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_DryRun_KeepsTheResource()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        await _f.Service.DeletePool(new DeleteRequest { Name = "web", DryRun = true }, Ctx);
        Assert.Equal(1, await _f.RevisionAsync());
        await _f.Service.GetPool(new GetRequest { Name = "web" }, Ctx);
    }

    [Fact]
    public async Task Delete_PoolUsedByListener_IsFailedPreconditionNamingIt()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("public", "edge", 8080, "web")) } }, Ctx);
        var ex = await RpcAssert.StatusAsync(() => _f.Service.DeletePool(new DeleteRequest { Name = "web" }, Ctx), StatusCode.FailedPrecondition);
        Assert.Contains("public", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Delete_PoolWithBackends_IsFailedPreconditionNamingThem()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(Backend("web-1", "web")) } }, Ctx);
        var ex = await RpcAssert.StatusAsync(() => _f.Service.DeletePool(new DeleteRequest { Name = "web" }, Ctx), StatusCode.FailedPrecondition);
        Assert.Contains("web-1", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_CertificateUsedByListener_IsFailedPrecondition()
    {
        var pem = TestCertificates.Ecdsa("example.com", _f.Clock.GetUtcNow());
        await _f.Service.Apply(new ApplyRequest
        {
            Resources = { R(Pool("web")), R(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem)), R(HttpsListener("public", "edge", 8443, "web", "site")) },
        }, Ctx);
        var ex = await RpcAssert.StatusAsync(() => _f.Service.DeleteCertificate(new DeleteRequest { Name = "site" }, Ctx), StatusCode.FailedPrecondition);
        Assert.Contains("public", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_StaleResourceVersion_IsAborted()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        await RpcAssert.StatusAsync(() => _f.Service.DeletePool(new DeleteRequest { Name = "web", ResourceVersion = 5 }, Ctx), StatusCode.Aborted);
        await _f.Service.DeletePool(new DeleteRequest { Name = "web", ResourceVersion = 1 }, Ctx);
        Assert.Equal(2, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Apply_ListenersSwappingPorts_Succeeds()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("a", "edge", 80, "web")), R(HttpListener("b", "edge", 81, "web")) } }, Ctx);
        var swapped = await _f.Service.Apply(new ApplyRequest
        {
            Resources = { R(HttpListener("a", "edge", 81, "web")), R(HttpListener("b", "edge", 80, "web")), R(HttpListener("c", "edge", 82, "web")) },
        }, Ctx);
        Assert.Equal(["configured", "configured", "created"], swapped.Results.Select(r => r.Action));
        var ports = await _f.WithDbAsync(db => db.Listeners.OrderBy(l => l.Name).Select(l => l.Port).ToListAsync());
        Assert.Equal([81, 80, 82], ports);
    }

    [Fact]
    public async Task ConcurrentWrites_AreSerializedWithoutGaps()
    {
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            _f.Service.CreatePool(new WritePoolRequest { Pool = Pool($"pool-{i}") }, Ctx)));
        Assert.Equal(20, await _f.RevisionAsync());
        var versions = await _f.WithDbAsync(db => db.Pools.Select(p => p.ResourceVersion).OrderBy(v => v).ToListAsync());
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), versions);
    }
}
