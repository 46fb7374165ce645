using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>What the audit log records of each change, and ListAudit's filters, over the real server.</summary>
public sealed class AuditApiTests : IAsyncLifetime
{
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task KindFilter_IgnoresCase_AndAnUnknownKindIsAViolationNamingTheKinds()
    {
        await _server.Management(_server.AdminToken).CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("web") });
        await _server.CreateTokenAsync("viewer");
        var access = _server.Access(_server.AdminToken);

        var pools = await access.ListAuditAsync(new ListAuditRequest { Kind = "POOL" });
        Assert.Equal(["web"], pools.Items.Select(e => e.Name));
        Assert.All((await access.ListAuditAsync(new ListAuditRequest { Kind = "token" })).Items, e => Assert.Equal("Token", e.Kind));

        var description = await RpcAssert.FieldViolationAsync(async () => await access.ListAuditAsync(new ListAuditRequest { Kind = "pools" }), "kind");
        Assert.Contains("Certificate", description, StringComparison.Ordinal);
        await RpcAssert.FieldViolationAsync(async () => await access.ListAuditAsync(new ListAuditRequest { Limit = 1001 }), "limit");
    }

    /// <summary>One write, and the audit entry it must leave.</summary>
    private sealed record Change(string Action, string Kind, string Name, long OldVersion, long NewVersion, long Revision);

    [Fact]
    public async Task EveryResourceChange_RecordsTheCallersTokenAndRole_AndTheOldAndNewResourceVersion()
    {
        // Two admins besides the first one, so the actor cannot be right by accident.
        var access = _server.Access(_server.AdminToken);
        var alice = await access.CreateTokenAsync(new CreateTokenRequest { Role = "admin" });
        var bob = await access.CreateTokenAsync(new CreateTokenRequest { Role = "admin" });
        var byAlice = _server.Management(alice.Secret);
        var byBob = _server.Management(bob.Secret);
        var expected = new List<(Change Change, string TokenId)>();
        void Expect(string action, string kind, string name, long oldVersion, long newVersion, long revision, string tokenId) =>
            expected.Add((new Change(action, kind, name, oldVersion, newVersion, revision), tokenId));

        // Unrelated writes first, so resource versions and revisions differ from small constants.
        await byBob.CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("other") });
        await byBob.CreateBackendAsync(new WriteBackendRequest { Backend = Resources.Backend("other-1", "other") });

        var pool = await byAlice.CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("audited") });
        Expect("create", "Pool", "audited", 0, pool.Metadata.ResourceVersion, pool.Metadata.ResourceVersion, alice.Token.Id);
        var poolVersion = pool.Metadata.ResourceVersion;
        pool.Status = null;
        pool.Spec.DrainTimeout = "7s";
        pool = await byBob.UpdatePoolAsync(new WritePoolRequest { Pool = pool });
        Expect("update", "Pool", "audited", poolVersion, pool.Metadata.ResourceVersion, pool.Metadata.ResourceVersion, bob.Token.Id);

        var backend = await byBob.CreateBackendAsync(new WriteBackendRequest { Backend = Resources.Backend("audited-1", "audited") });
        Expect("create", "Backend", "audited-1", 0, backend.Metadata.ResourceVersion, backend.Metadata.ResourceVersion, bob.Token.Id);
        var backendVersion = backend.Metadata.ResourceVersion;
        backend.Status = null;
        backend.Spec.Weight = 7;
        backend = await byAlice.UpdateBackendAsync(new WriteBackendRequest { Backend = backend });
        Expect("update", "Backend", "audited-1", backendVersion, backend.Metadata.ResourceVersion, backend.Metadata.ResourceVersion, alice.Token.Id);

        var now = DateTimeOffset.UtcNow;
        var first = TestCertificates.Ecdsa("audited.example.test", now);
        var certificate = await byAlice.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Resources.Certificate("audited-cert", first.CertificatePem, first.PrivateKeyPem) });
        Expect("create", "Certificate", "audited-cert", 0, certificate.Metadata.ResourceVersion, certificate.Metadata.ResourceVersion, alice.Token.Id);
        var second = TestCertificates.Ecdsa("audited.example.test", now);
        var rotated = Resources.Certificate("audited-cert", second.CertificatePem, second.PrivateKeyPem);
        rotated.Metadata.ResourceVersion = certificate.Metadata.ResourceVersion;
        var certificateVersion = certificate.Metadata.ResourceVersion;
        certificate = await byBob.UpdateCertificateAsync(new WriteCertificateRequest { Certificate = rotated });
        Expect("update", "Certificate", "audited-cert", certificateVersion, certificate.Metadata.ResourceVersion, certificate.Metadata.ResourceVersion, bob.Token.Id);

        var listener = await byBob.CreateListenerAsync(new WriteListenerRequest { Listener = Resources.HttpsListener("audited-https", "edge", 8443, "audited", "audited-cert") });
        Expect("create", "Listener", "audited-https", 0, listener.Metadata.ResourceVersion, listener.Metadata.ResourceVersion, bob.Token.Id);
        var listenerVersion = listener.Metadata.ResourceVersion;
        listener.Status = null;
        listener.Spec.Port = 9443;
        listener = await byAlice.UpdateListenerAsync(new WriteListenerRequest { Listener = listener });
        Expect("update", "Listener", "audited-https", listenerVersion, listener.Metadata.ResourceVersion, listener.Metadata.ResourceVersion, alice.Token.Id);

        // Apply: one revision, one entry per changed resource, the unchanged one leaves none.
        var apply = new ApplyRequest();
        var appliedBackend = Resources.Backend("audited-1", "audited", change: s => s.Weight = 9);
        apply.Resources.Add(Resources.R(appliedBackend));
        apply.Resources.Add(Resources.R(Resources.Backend("audited-2", "audited")));
        apply.Resources.Add(Resources.R(Resources.Backend("other-1", "other")));
        var applied = await byBob.ApplyAsync(apply);
        Assert.Equal(["configured", "created", "unchanged"], applied.Results.Select(r => r.Action));
        Expect("update", "Backend", "audited-1", backend.Metadata.ResourceVersion, applied.Revision, applied.Revision, bob.Token.Id);
        Expect("create", "Backend", "audited-2", 0, applied.Revision, applied.Revision, bob.Token.Id);
        var backendBeforeDelete = applied.Revision;

        // Deletes, newest resources first; the old version is the one deleted, the new one 0.
        var deleted = await byAlice.DeleteListenerAsync(new DeleteRequest { Name = "audited-https" });
        Expect("delete", "Listener", "audited-https", listener.Metadata.ResourceVersion, 0, deleted.Revision, alice.Token.Id);
        deleted = await byBob.DeleteCertificateAsync(new DeleteRequest { Name = "audited-cert" });
        Expect("delete", "Certificate", "audited-cert", certificate.Metadata.ResourceVersion, 0, deleted.Revision, bob.Token.Id);
        deleted = await byAlice.DeleteBackendAsync(new DeleteRequest { Name = "audited-1", ResourceVersion = backendBeforeDelete });
        Expect("delete", "Backend", "audited-1", backendBeforeDelete, 0, deleted.Revision, alice.Token.Id);
        deleted = await byBob.DeleteBackendAsync(new DeleteRequest { Name = "audited-2" });
        Expect("delete", "Backend", "audited-2", backendBeforeDelete, 0, deleted.Revision, bob.Token.Id);
        deleted = await byAlice.DeletePoolAsync(new DeleteRequest { Name = "audited" });
        Expect("delete", "Pool", "audited", pool.Metadata.ResourceVersion, 0, deleted.Revision, alice.Token.Id);

        // A refused write (stale resourceVersion) leaves no entry.
        var stale = Resources.Backend("other-1", "other", change: s => s.Weight = 3);
        stale.Metadata.ResourceVersion = 1;
        await RpcAssert.StatusAsync(async () => await byAlice.UpdateBackendAsync(new WriteBackendRequest { Backend = stale }), Grpc.Core.StatusCode.Aborted);

        var entries = (await access.ListAuditAsync(new ListAuditRequest { Limit = 1000 })).Items
            .Where(e => e.Kind != "Token" && e.Name != "other" && !(e.Name == "other-1" && e.Action == "create"))
            .Reverse()
            .ToList();
        Assert.Equal(expected.Select(e => e.Change), entries.Select(e => new Change(e.Action, e.Kind, e.Name, e.OldResourceVersion, e.NewResourceVersion, e.Revision)));
        for (var i = 0; i < entries.Count; i++)
        {
            var (change, tokenId) = expected[i];
            Assert.True(entries[i].TokenId == tokenId && entries[i].Role == "admin",
                $"{change.Action} {change.Kind} {change.Name}: recorded actor {entries[i].TokenId} ({entries[i].Role}), expected {tokenId} (admin)");
            Assert.Contains("127.0.0.1", entries[i].Peer, StringComparison.Ordinal);
            Assert.NotNull(entries[i].At);
        }
        // The per-resource filter returns the same entries, newest first.
        var backendHistory = (await access.ListAuditAsync(new ListAuditRequest { Kind = "Backend", Name = "audited-1" })).Items;
        Assert.Equal(["delete", "update", "update", "create"], backendHistory.Select(e => e.Action));
    }
}
