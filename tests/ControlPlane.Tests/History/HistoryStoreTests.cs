using LoadBalancer.ControlPlane.Store.History;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.History;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.History;

/// <summary>History written by the real store on a real SQLite file: reconstruction, rollback, compaction.</summary>
public sealed class HistoryStoreTests : IAsyncLifetime
{
    private StoreFixture _f = null!;
    private HistoryReader _reader = null!;
    private RollbackWriter _rollback = null!;

    public async Task InitializeAsync()
    {
        _f = await StoreFixture.CreateAsync();
        _reader = new HistoryReader(_f.DbFactory);
        _rollback = new RollbackWriter(_f.Store, _f.Secrets);
    }

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private ServerCallContext Ctx => _f.Context;

    private static ControlPlane.Access.Caller Admin => new("t-test", ControlPlane.Access.Roles.Admin, "", null, "127.0.0.1");

    private HistoryCompactor Compactor(int revisions) =>
        new(_f.DbFactory, _f.Feed, new HistoryOptions(revisions), _f.Clock, NullLogger<HistoryCompactor>.Instance);

    /// <summary>A revision's content as text without per-write metadata: kind, name, labels and spec.</summary>
    private async Task<string> ContentAsync(long revision) =>
        string.Join("\n", (await _reader.GetAsync(revision, default)).Resources.Select(Describe));

    private static string Describe(Resource r) => r.KindCase switch
    {
        Resource.KindOneofCase.Pool => $"Pool {r.Pool.Metadata.Name} {r.Pool.Metadata.Labels} {r.Pool.Spec}",
        Resource.KindOneofCase.Backend => $"Backend {r.Backend.Metadata.Name} {r.Backend.Metadata.Labels} {r.Backend.Spec}",
        Resource.KindOneofCase.Listener => $"Listener {r.Listener.Metadata.Name} {r.Listener.Metadata.Labels} {r.Listener.Spec}",
        _ => $"Certificate {r.Certificate.Metadata.Name} {r.Certificate.Metadata.Labels} {r.Certificate.Spec}",
    };

    /// <summary>The live configuration, through the management service's list calls, in the same form.</summary>
    private async Task<string> LiveAsync()
    {
        var all = new List<Resource>();
        all.AddRange((await _f.Service.ListCertificates(new ListRequest(), Ctx)).Items.Select(c => new Resource { Certificate = new Certificate { Metadata = c.Metadata, Spec = c.Spec } }));
        all.AddRange((await _f.Service.ListPools(new ListRequest(), Ctx)).Items.Select(p => new Resource { Pool = p }));
        all.AddRange((await _f.Service.ListBackends(new ListRequest(), Ctx)).Items.Select(b => new Resource { Backend = b }));
        all.AddRange((await _f.Service.ListListeners(new ListRequest(), Ctx)).Items.Select(l => new Resource { Listener = l }));
        return string.Join("\n", all.Select(Describe));
    }

    private Task<int> ChangeLogCountAsync() => _f.WithDbAsync(db => db.ChangeLog.CountAsync());

    [Fact]
    public async Task EveryWrite_IsKept_AndEachRevisionIsReconstructed()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var backend = await _f.Service.CreateBackend(new WriteBackendRequest { Backend = Backend("web-1", "web") }, Ctx);
        backend.Spec.Weight = 5;
        await _f.Service.UpdateBackend(new WriteBackendRequest { Backend = backend }, Ctx);
        await _f.Service.DeleteBackend(new DeleteRequest { Name = "web-1" }, Ctx);

        Assert.Empty((await _reader.GetAsync(0, default)).Resources);
        Assert.Equal(["Pool web"], (await _reader.GetAsync(1, default)).Resources.Select(r => $"{r.KindCase} {r.Pool?.Metadata.Name ?? r.Backend.Metadata.Name}"));
        var second = await _reader.GetAsync(2, default);
        Assert.Equal(0, second.Resources.Single(r => r.Backend is not null).Backend.Spec.Weight);
        var third = await _reader.GetAsync(3, default);
        Assert.Equal(5, third.Resources.Single(r => r.Backend is not null).Backend.Spec.Weight);
        Assert.Equal(await ContentAsync(1), await ContentAsync(4));
        Assert.Equal(await LiveAsync(), await ContentAsync(4));

        var description = await RpcAssert.FieldViolationAsync(() => _reader.GetAsync(5, default), "revision");
        Assert.Equal("revision 5 does not exist; the current revision is 4", description);

        var list = await _reader.ListAsync("", "", 0, default);
        Assert.Equal([4L, 3, 2, 1], list.Items.Select(i => i.Revision));
        Assert.Equal("delete Backend web-1", string.Join(",", list.Items[0].Changes.Select(c => $"{c.Operation} {c.Kind} {c.Name}")));
        Assert.Equal("t-test", list.Items[0].Actor);
        var filtered = await _reader.ListAsync("pool", "web", 0, default);
        Assert.Equal([1L], filtered.Items.Select(i => i.Revision));

        var diff = await _reader.DiffAsync(1, 3, default);
        Assert.Equal("Backend web-1 added", string.Join(",", diff.Changes.Select(c => $"{c.Kind} {c.Name} {c.Change}")));
    }

    [Fact]
    public async Task Rollback_WritesOneRevisionEqualToTheTarget_WithSealedKeysAsTheyWere()
    {
        var pem = TestCertificates.Rsa("web.example", _f.Clock.Now);
        await _f.Service.CreateCertificate(new WriteCertificateRequest { Certificate = Certificate("tls", pem.CertificatePem, pem.PrivateKeyPem) }, Ctx);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var (sealedKey, sessionKey) = await _f.WithDbAsync(async db =>
            ((await db.Certificates.SingleAsync()).EncryptedPrivateKey, (await db.Pools.SingleAsync()).SessionKey));
        var atTwo = await ContentAsync(2);
        await _f.Service.DeletePool(new DeleteRequest { Name = "web" }, Ctx);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("api", change: s => s.Algorithm = "least-connections") }, Ctx);
        await _f.Service.DeleteCertificate(new DeleteRequest { Name = "tls" }, Ctx);
        var auditBefore = await ChangeLogCountAsync();

        var result = await _rollback.RollbackAsync(2, dryRun: false, Admin, default);

        Assert.Equal(6, result.Revision);
        Assert.Equal(["Certificate/tls added", "Pool/api removed", "Pool/web added"], result.Changes.Select(c => $"{c.Kind}/{c.Name} {c.Change}"));
        Assert.Equal(atTwo, await LiveAsync());
        Assert.Equal(atTwo, await ContentAsync(6));
        var (restoredKey, restoredSession) = await _f.WithDbAsync(async db =>
            ((await db.Certificates.SingleAsync()).EncryptedPrivateKey, (await db.Pools.SingleAsync()).SessionKey));
        Assert.Equal(sealedKey, restoredKey);
        Assert.Equal(sessionKey, restoredSession);
        Assert.Equal(pem.PrivateKeyPem.Trim(), _f.Secrets.Unprotect(restoredKey, "tls").Trim());

        // No read hands the key out: neither the revision, nor the diff, nor the rollback's answer.
        var keyLine = pem.PrivateKeyPem.Split('\n')[1];
        Assert.DoesNotContain(keyLine, (await _reader.GetAsync(1, default)).ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(keyLine, (await _reader.DiffAsync(0, 6, default)).ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(keyLine, string.Join("\n", result.Changes.Select(c => ControlPlane.History.HistoryProtos.ToProto(c).ToString())), StringComparison.Ordinal);

        // One entry says rollback; one row per resource changed.
        var audit = await _f.WithDbAsync(db => db.ChangeLog.Where(c => c.Revision == 6).OrderBy(c => c.Id).ToListAsync());
        Assert.Equal(auditBefore + 4, await ChangeLogCountAsync());
        Assert.Single(audit, a => a.Operation == "rollback" && a.Name == "2");
        var entry = (await _reader.ListAsync("", "", 1, default)).Items.Single();
        Assert.Equal(2, entry.RollbackTo);
        Assert.Equal(3, entry.Changes.Count);
    }

    [Fact]
    public async Task Rollback_DryRun_ReturnsTheDiff_AndWritesNothing()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("api") }, Ctx);
        var audit = await ChangeLogCountAsync();

        var result = await _rollback.RollbackAsync(1, dryRun: true, Admin, default);

        Assert.True(result.DryRun);
        Assert.Equal(2, result.Revision);
        Assert.Equal("Pool/api removed", string.Join(",", result.Changes.Select(c => $"{c.Kind}/{c.Name} {c.Change}")));
        Assert.Equal(2, await _f.RevisionAsync());
        Assert.Equal(audit, await ChangeLogCountAsync());
        Assert.Contains("api", await LiveAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_ToAMissingCompactedOrCurrentRevision_IsRefusedNamingTo_AndWritesNothing()
    {
        for (var i = 0; i < 5; i++)
        {
            await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool($"p{i}") }, Ctx);
        }
        Assert.Equal(4, await Compactor(2).CompactAsync(default));
        var audit = await ChangeLogCountAsync();

        Assert.Equal("revision 9 does not exist; the current revision is 5",
            await RpcAssert.FieldViolationAsync(() => _rollback.RollbackAsync(9, false, Admin, default), "to"));
        Assert.Equal("revision 2 was compacted; oldest kept is 4",
            await RpcAssert.FieldViolationAsync(() => _rollback.RollbackAsync(2, false, Admin, default), "to"));
        Assert.Equal("revision 5 is the current revision; nothing to roll back",
            await RpcAssert.FieldViolationAsync(() => _rollback.RollbackAsync(5, false, Admin, default), "to"));
        await RpcAssert.FieldViolationAsync(() => _reader.GetAsync(3, default), "revision");
        await RpcAssert.FieldViolationAsync(() => _reader.DiffAsync(1, 0, default), "from");

        Assert.Equal(5, await _f.RevisionAsync());
        Assert.Equal(audit, await ChangeLogCountAsync());
    }

    [Fact]
    public async Task Compaction_KeepsEveryKeptRevisionExact_AndDropsTheRest()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        for (var weight = 1; weight <= 6; weight++)
        {
            var backend = new Backend { Metadata = new ObjectMeta { Name = "b" }, Spec = new BackendSpec { Pool = "web", Address = "127.0.0.1:9101", Weight = weight } };
            await _f.Service.Apply(new ApplyRequest { Resources = { R(backend) } }, Ctx);
        }
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("gone") }, Ctx);
        await _f.Service.DeletePool(new DeleteRequest { Name = "gone" }, Ctx);
        var expected = new Dictionary<long, string>();
        for (long r = 6; r <= 9; r++)
        {
            expected[r] = await ContentAsync(r);
        }
        var rowsBefore = await _f.WithDbAsync(db => db.ResourceHistory.CountAsync());

        Assert.Equal(6, await Compactor(4).CompactAsync(default));

        foreach (var (revision, content) in expected)
        {
            Assert.Equal(content, await ContentAsync(revision));
        }
        // web at 1 (6 still needs it), b at 6 and 7, gone's create (8) and tombstone (9): b at 2 to 5 went.
        Assert.Equal(5, await _f.WithDbAsync(db => db.ResourceHistory.CountAsync()));
        Assert.Equal(9, rowsBefore);
        Assert.Equal(6, (await _reader.ListAsync("", "", 0, default)).OldestKept);
    }

    [Fact]
    public async Task Rollback_ThatWouldRestoreAnExpiredCertificate_IsRefusedWithTheReason()
    {
        var pem = TestCertificates.Rsa("web.example", _f.Clock.Now, validDays: 1);
        await _f.Service.CreateCertificate(new WriteCertificateRequest { Certificate = Certificate("tls", pem.CertificatePem, pem.PrivateKeyPem) }, Ctx);
        await _f.Service.DeleteCertificate(new DeleteRequest { Name = "tls" }, Ctx);
        _f.Clock.Now = _f.Clock.Now.AddDays(3);

        var description = await RpcAssert.FieldViolationAsync(() => _rollback.RollbackAsync(1, false, Admin, default), "to");

        Assert.StartsWith("revision 1 cannot be restored: Certificate/tls: spec.certificatePem: the leaf certificate expired", description, StringComparison.Ordinal);
        Assert.Equal(2, await _f.RevisionAsync());
    }
    [Fact]
    public async Task Rollback_GivesPortsBack_FromListenersCreatedOrMovedSince()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        await _f.Service.Apply(new ApplyRequest { Resources = { R(HttpListener("a", "edge", 8080, "web")), R(HttpListener("b", "edge", 8081, "web")) } }, Ctx);
        var atTwo = await ContentAsync(2);
        // The two swap ports, then a third takes over a's place when a goes.
        await _f.Service.Apply(new ApplyRequest { Resources = { R(HttpListener("a", "edge", 8081, "web")), R(HttpListener("b", "edge", 8080, "web")) } }, Ctx);
        await _f.Service.DeleteListener(new DeleteRequest { Name = "b" }, Ctx);
        await _f.Service.CreateListener(new WriteListenerRequest { Listener = HttpListener("c", "edge", 8080, "web") }, Ctx);

        var result = await _rollback.RollbackAsync(2, dryRun: false, Admin, default);

        Assert.Equal(["Listener/a changed", "Listener/b added", "Listener/c removed"], result.Changes.Select(c => $"{c.Kind}/{c.Name} {c.Change}"));
        Assert.Equal(atTwo, await LiveAsync());
        var ports = await _f.WithDbAsync(db => db.Listeners.OrderBy(l => l.Name).Select(l => l.Name + ":" + l.Port).ToListAsync());
        Assert.Equal(["a:8080", "b:8081"], ports);
    }
    [Fact]
    public async Task Rollback_OfAPoolKeptWithALegacyBareSessionKey_SealsItOnTheWayBack()
    {
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, Ctx);
        var bare = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        // As the history migration seeds a database from before sealed keys.
        await _f.WithDbAsync(db => db.ResourceHistory.Where(h => h.Name == "web").ExecuteUpdateAsync(u => u.SetProperty(h => h.Sealed, bare)));
        await _f.Service.DeletePool(new DeleteRequest { Name = "web" }, Ctx);

        await _rollback.RollbackAsync(1, dryRun: false, Admin, default);

        var restored = await _f.WithDbAsync(db => db.Pools.SingleAsync());
        Assert.True(restored.SessionKeyIsSealed);
        Assert.Equal(bare, _f.Secrets.UnprotectSessionKey(restored.SessionKey, "web"));
    }
}
