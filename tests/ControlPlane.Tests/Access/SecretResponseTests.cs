using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Dashboard;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>
/// Secrets leave the API accountably: never cacheable (token creation, key export, over gRPC and
/// REST), and audited when an admin token takes a tier's keys over a sync stream or forgets an agent.
/// </summary>
public sealed class SecretResponseTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private ApiServer _server = null!;
    private RestClient _rest = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        _rest = new RestClient(_server);
    }

    public async Task DisposeAsync()
    {
        _rest.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task TokenCreationAndKeyExport_AreNoStore_OverGrpcAndRest()
    {
        var pem = TestCertificates.Ecdsa("shop.example.test", DateTimeOffset.UtcNow);
        await _server.Management(_server.AdminToken).CreateCertificateAsync(new WriteCertificateRequest { Certificate = Certificate("shop", pem.CertificatePem, pem.PrivateKeyPem) });

        using (var create = _server.Access(_server.AdminToken).CreateTokenAsync(new CreateTokenRequest { Role = "viewer" }))
        {
            Assert.Equal("no-store", (await create.ResponseHeadersAsync).GetValue("cache-control"));
            Assert.NotEmpty((await create).Secret);
        }
        using (var export = _server.Management(_server.AdminToken).ExportCertificateKeyAsync(new GetRequest { Name = "shop" }))
        {
            Assert.Equal("no-store", (await export.ResponseHeadersAsync).GetValue("cache-control"));
            Assert.NotEmpty((await export).PrivateKeyPem);
        }

        using (var create = await _rest.SendAsync(HttpMethod.Post, "/v1/tokens", _server.AdminToken, new JsonObject { ["role"] = "viewer" }))
        {
            Assert.Equal(HttpStatusCode.OK, create.StatusCode);
            Assert.True(create.Headers.CacheControl?.NoStore, $"POST /v1/tokens Cache-Control: {create.Headers.CacheControl}");
        }
        using (var export = await _rest.SendAsync(HttpMethod.Get, "/v1/certificates/shop/key", _server.AdminToken))
        {
            Assert.Equal(HttpStatusCode.OK, export.StatusCode);
            Assert.True(export.Headers.CacheControl?.NoStore, $"GET /v1/certificates/shop/key Cache-Control: {export.Headers.CacheControl}");
        }
    }

    [Fact]
    public async Task AdminSyncStream_ThatReceivesATiersKeys_IsAudited()
    {
        var pem = TestCertificates.Ecdsa("shop.example.test", DateTimeOffset.UtcNow);
        var admin = _server.Management(_server.AdminToken);
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Certificate("shop", pem.CertificatePem, pem.PrivateKeyPem)));
        apply.Resources.Add(R(Pool("web")));
        apply.Resources.Add(R(HttpsListener("public", "data", 8443, "web", "shop")));
        await admin.ApplyAsync(apply);

        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(_server.AdminToken).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "look-1", Tier = "data" } }, cts.Token);
        var snapshot = await call.NextSnapshotAsync(cts.Token);
        Assert.Contains(SnapshotData.Parser.ParseFrom(snapshot.Payload).Certificates, c => c.PrivateKeyPem.Length > 0);

        var audit = await _server.Access(_server.AdminToken).ListAuditAsync(new ListAuditRequest { Kind = "agent", Name = "look-1" });
        var entry = Assert.Single(audit.Items);
        Assert.Equal("sync-keys:data", entry.Action);
        Assert.Equal("admin", entry.Role);
        Assert.NotEmpty(entry.TokenId);
        Assert.NotEmpty(entry.Peer);
    }

    [Fact]
    public async Task DeletingAnAgent_IsAudited_WithActorAndPeer()
    {
        var token = await _server.CreateTokenAsync("agent", "edge");
        using (var cts = new CancellationTokenSource(Timeout))
        {
            using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-9", Tier = "edge" } }, cts.Token);
            await call.NextSnapshotAsync(cts.Token);
            await call.RequestStream.WriteAsync(new AgentMessage { Goodbye = new Goodbye { Reason = "test" } }, cts.Token);
            await call.RequestStream.CompleteAsync();
        }
        var admin = _server.Management(_server.AdminToken);
        await Poll.UntilAsync(async () => !(await admin.GetAgentAsync(new GetRequest { Name = "edge-9" })).Status.Connected, Timeout, "edge-9 disconnected");

        await admin.DeleteAgentAsync(new DeleteRequest { Name = "edge-9" });

        var audit = await _server.Access(_server.AdminToken).ListAuditAsync(new ListAuditRequest { Kind = "agent", Name = "edge-9" });
        var entry = Assert.Single(audit.Items);
        Assert.Equal("delete", entry.Action);
        Assert.Equal("admin", entry.Role);
        Assert.NotEmpty(entry.TokenId);
        Assert.NotEmpty(entry.Peer);
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await admin.GetAgentAsync(new GetRequest { Name = "edge-9" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }
}
