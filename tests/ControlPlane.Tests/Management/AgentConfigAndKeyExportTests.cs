using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Management;

/// <summary>Stored-versus-applied configuration per agent, and the admin-only key export, over the real server.</summary>
public sealed class AgentConfigAndKeyExportTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AgentConfig_InSyncAfterAck_ThenShowsTheStoredChangeTheAgentHasNotApplied()
    {
        var admin = _server.Management(_server.AdminToken);
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Pool("web", change: p => p.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "lb" })));
        apply.Resources.Add(R(Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(R(HttpListener("public", "edge", 8080, "web")));
        await admin.ApplyAsync(apply);

        var token = await _server.CreateTokenAsync("agent", "edge");
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge" } }, cts.Token);
        var first = await call.NextSnapshotAsync(cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Ack = new Ack { Revision = first.Revision, SnapshotHash = first.Hash } }, cts.Token);

        var synced = await WaitForAsync(async () => await admin.GetAgentConfigAsync(new GetRequest { Name = "edge-1" }), c => c.InSync, cts.Token);
        Assert.Equal(first.Hash, synced.AppliedHash);
        Assert.Equal(synced.StoredJson, synced.AppliedJson);
        Assert.Contains("\"web-1\"", synced.StoredJson, StringComparison.Ordinal);
        // The pool's cookie-signing key is a secret too.
        var key = SnapshotData.Parser.ParseFrom(first.Payload).Pools.Single().SessionPersistence.HmacKey;
        Assert.False(key.IsEmpty);
        Assert.DoesNotContain(key.ToBase64(), synced.StoredJson, StringComparison.Ordinal);
        Assert.DoesNotContain("hmacKey", synced.StoredJson, StringComparison.Ordinal);

        // A new backend is stored; the agent receives it but does not acknowledge.
        await admin.CreateBackendAsync(new WriteBackendRequest { Backend = Backend("web-2", "web", "127.0.0.1:9102") });
        var second = await call.NextSnapshotAsync(cts.Token);
        var behind = await WaitForAsync(async () => await admin.GetAgentConfigAsync(new GetRequest { Name = "edge-1" }), c => c.StoredHash == second.Hash, cts.Token);
        Assert.False(behind.InSync);
        Assert.Equal(first.Revision, behind.AppliedRevision);
        Assert.Contains("\"web-2\"", behind.StoredJson, StringComparison.Ordinal);
        Assert.DoesNotContain("\"web-2\"", behind.AppliedJson, StringComparison.Ordinal);

        // Viewers may look too.
        var viewer = await _server.CreateTokenAsync("viewer");
        Assert.False((await _server.Management(viewer).GetAgentConfigAsync(new GetRequest { Name = "edge-1" })).InSync);
    }

    [Fact]
    public async Task KeyExport_GivesAdminTheKey_IsAudited_AndIsRefusedToViewers()
    {
        var pem = TestCertificates.Ecdsa("shop.example.test", DateTimeOffset.UtcNow);
        var admin = _server.Management(_server.AdminToken);
        await admin.CreateCertificateAsync(new WriteCertificateRequest { Certificate = Certificate("shop", pem.CertificatePem, pem.PrivateKeyPem) });

        var exported = await admin.ExportCertificateKeyAsync(new GetRequest { Name = "shop" });
        Assert.Equal(pem.PrivateKeyPem.Trim(), exported.PrivateKeyPem.Trim());
        var audit = await _server.Access(_server.AdminToken).ListAuditAsync(new ListAuditRequest { Kind = "certificate", Name = "shop" });
        Assert.Equal("export-key", audit.Items[0].Action);

        var viewer = await _server.CreateTokenAsync("viewer");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await _server.Management(viewer).ExportCertificateKeyAsync(new GetRequest { Name = "shop" }));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await admin.ExportCertificateKeyAsync(new GetRequest { Name = "nope" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done, CancellationToken cancellationToken)
    {
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }
            await Task.Delay(50, cancellationToken);
        }
    }
}
