using Google.Protobuf;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>Who may open which sync stream, and what a stream carries, over the real server.</summary>
public sealed class SyncAccessTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        var now = DateTimeOffset.UtcNow;
        var edgeCert = TestCertificates.Ecdsa("shop.example.test", now);
        var internalCert = TestCertificates.Ecdsa("api.example.test", now);
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Pool("web")));
        apply.Resources.Add(R(Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(R(Pool("api")));
        apply.Resources.Add(R(Backend("api-1", "api", "127.0.0.1:9201")));
        apply.Resources.Add(R(Certificate("edge-cert", edgeCert.CertificatePem, edgeCert.PrivateKeyPem)));
        apply.Resources.Add(R(Certificate("internal-cert", internalCert.CertificatePem, internalCert.PrivateKeyPem)));
        apply.Resources.Add(R(HttpsListener("public", "edge", 8443, "web", "edge-cert")));
        apply.Resources.Add(R(HttpsListener("private", "internal", 9443, "api", "internal-cert")));
        await _server.Management(_server.AdminToken).ApplyAsync(apply);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AgentToken_ReceivesOnlyItsTier_AndOnlyTheKeysItsListenersUse()
    {
        var token = await _server.CreateTokenAsync("agent", "internal");
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "int-1", Tier = "internal" } }, cts.Token);
        var snapshot = await call.NextSnapshotAsync(cts.Token);
        var data = SnapshotData.Parser.ParseFrom(snapshot.Payload);
        Assert.Equal("internal", data.Tier);
        Assert.Equal(["private"], data.Listeners.Select(l => l.Name));
        Assert.Equal(["api"], data.Pools.Select(p => p.Name));
        Assert.Equal(["api-1"], data.Pools.SelectMany(p => p.Backends).Select(b => b.Name));
        var certificate = Assert.Single(data.Certificates);
        Assert.Equal("internal-cert", certificate.Name);
        Assert.Contains("PRIVATE KEY", certificate.PrivateKeyPem, StringComparison.Ordinal);
        var bytes = snapshot.Payload.ToStringUtf8();
        Assert.DoesNotContain("edge-cert", bytes, StringComparison.Ordinal);
        Assert.DoesNotContain("web-1", bytes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentToken_ClaimingAnotherTier_IsRefused()
    {
        var token = await _server.CreateTokenAsync("agent", "internal");
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "sneaky", Tier = "edge" } }, cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("internal", refused.Status.Detail, StringComparison.Ordinal);
        // Nothing of the edge tier was registered for it either.
        var agents = await _server.Management(_server.AdminToken).ListAgentsAsync(new ListRequest());
        Assert.DoesNotContain(agents.Items, a => a.Metadata.Name == "sneaky");
    }

    [Theory]
    [InlineData("viewer")]
    [InlineData("none")]
    public async Task NonAgentTokens_CannotOpenTheStream(string role)
    {
        var token = role == "none" ? null : await _server.CreateTokenAsync(role);
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "x", Tier = "edge" } }, cts.Token);
            await call.ResponseStream.MoveNext(cts.Token);
        });
        Assert.Equal(role == "none" ? StatusCode.Unauthenticated : StatusCode.PermissionDenied, refused.StatusCode);
    }

    [Fact]
    public async Task RevokingTheToken_EndsAnOpenStreamAtOnce()
    {
        var created = await _server.Access(_server.AdminToken).CreateTokenAsync(new CreateTokenRequest { Role = "agent", Tier = "edge" });
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(created.Secret).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge" } }, cts.Token);
        await call.NextSnapshotAsync(cts.Token);

        var revokedAt = System.Diagnostics.Stopwatch.StartNew();
        await _server.Access(_server.AdminToken).RevokeTokenAsync(new RevokeTokenRequest { Id = created.Token.Id });
        var ended = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
            }
        });
        Assert.Equal(StatusCode.Unauthenticated, ended.StatusCode);
        // Well before the 15 s keep-alive: the revocation itself ended the stream.
        Assert.True(revokedAt.Elapsed < TimeSpan.FromSeconds(10), $"took {revokedAt.Elapsed}");
    }

    [Fact]
    public async Task AgentConnectingBeforeItsTierIsCompiled_WaitsForTheFirstSnapshot_AndGetsABookmarkIfItHasIt()
    {
        // The snapshot of a tier without listeners is known in advance; the tier is compiled only once an agent of it connects.
        var empty = new SnapshotData { Tier = "spare" }.ToByteArray();
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(empty));
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(await _server.CreateTokenAsync("agent", "spare")).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "spare-1", Tier = "spare", Revision = 1, SnapshotHash = hash } }, cts.Token);

        // Well before the 15 s keep-alive: the first message says the agent is up to date.
        Assert.True(await call.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(ControlPlaneMessage.MessageOneofCase.Bookmark, call.ResponseStream.Current.MessageCase);
        Assert.Equal(hash, call.ResponseStream.Current.Bookmark.Hash);
        await call.RequestStream.CompleteAsync();
    }
}
