using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Observability;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// An agent's name belongs to its tier: a token of another tier can neither take the name over
/// nor report on backends its tier does not serve.
/// </summary>
public sealed class AgentIdentityTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Pool("web")));
        apply.Resources.Add(R(Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(R(Pool("db", "tcp")));
        apply.Resources.Add(R(Backend("db-1", "db", "127.0.0.1:9301")));
        apply.Resources.Add(R(HttpListener("public", "edge", 8080, "web")));
        apply.Resources.Add(R(TcpListener("orders", "data", 5432, "db")));
        await _server.Management(_server.AdminToken).ApplyAsync(apply);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static AgentMessage HelloOf(string name, string tier) => new() { Hello = new Hello { Name = name, Tier = tier } };

    [Fact]
    public async Task TokenOfAnotherTier_ClaimingAConnectedAgentsName_IsRefused_AndTheRealStreamStaysUp()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var real = _server.Sync(await _server.CreateTokenAsync("agent", "data")).Sync(cancellationToken: cts.Token);
        await real.RequestStream.WriteAsync(HelloOf("data-1", "data"), cts.Token);
        var first = await real.NextSnapshotAsync(cts.Token);

        using var impostor = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await impostor.RequestStream.WriteAsync(HelloOf("data-1", "edge"), cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => impostor.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("data-1", refused.Status.Detail, StringComparison.Ordinal);

        // The real stream was not superseded: it still receives its tier's next snapshot.
        await _server.Management(_server.AdminToken).ApplyAsync(new ApplyRequest { Resources = { R(Backend("db-2", "db", "127.0.0.1:9302")) } });
        var next = await real.NextSnapshotAsync(cts.Token);
        Assert.True(next.Revision > first.Revision);
        var agent = await _server.Management(_server.AdminToken).GetAgentAsync(new GetRequest { Name = "data-1" });
        Assert.Equal("data", agent.Spec.Tier);
        Assert.True(agent.Status.Connected);
        await real.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task NameOfADisconnectedAgent_StaysWithItsTier_UntilTheAgentIsDeleted()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using (var real = _server.Sync(await _server.CreateTokenAsync("agent", "data")).Sync(cancellationToken: cts.Token))
        {
            await real.RequestStream.WriteAsync(HelloOf("data-1", "data"), cts.Token);
            await real.NextSnapshotAsync(cts.Token);
            await real.RequestStream.CompleteAsync();
            while (await real.ResponseStream.MoveNext(cts.Token))
            {
            }
        }
        var edgeToken = await _server.CreateTokenAsync("agent", "edge");
        using (var impostor = _server.Sync(edgeToken).Sync(cancellationToken: cts.Token))
        {
            await impostor.RequestStream.WriteAsync(HelloOf("data-1", "edge"), cts.Token);
            var refused = await Assert.ThrowsAsync<RpcException>(() => impostor.ResponseStream.MoveNext(cts.Token));
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        }
        Assert.Equal("data", (await _server.Management(_server.AdminToken).GetAgentAsync(new GetRequest { Name = "data-1" })).Spec.Tier);

        // An administrator frees the name by deleting the agent.
        await _server.Management(_server.AdminToken).DeleteAgentAsync(new DeleteRequest { Name = "data-1" });
        using var renamed = _server.Sync(edgeToken).Sync(cancellationToken: cts.Token);
        await renamed.RequestStream.WriteAsync(HelloOf("data-1", "edge"), cts.Token);
        await renamed.NextSnapshotAsync(cts.Token);
        await renamed.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task HealthReport_AboutAnotherTiersBackend_IsIgnored_AndCounted()
    {
        var metrics = _server.Host.App.Services.GetRequiredService<ControlPlaneMetrics>();
        var ignoredBefore = metrics.ForeignHealthReports.WithLabels("edge").Value;
        using var cts = new CancellationTokenSource(Timeout);
        using var edge = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await edge.RequestStream.WriteAsync(HelloOf("edge-1", "edge"), cts.Token);
        await edge.NextSnapshotAsync(cts.Token);

        var foreign = new HealthReport { Full = false };
        foreign.Backends.Add(new BackendHealthReport { Pool = "db", Backend = "db-1", State = "unhealthy", Reason = "forged" });
        // Same names as the data tier's, under a pool of its own tier: still not a backend of that pool.
        foreign.Backends.Add(new BackendHealthReport { Pool = "web", Backend = "db-1", State = "unhealthy", Reason = "forged" });
        await edge.RequestStream.WriteAsync(new AgentMessage { Health = foreign }, cts.Token);
        // The stream is read in order: once this one is recorded, the forged one was handled.
        var own = new HealthReport { Full = false };
        own.Backends.Add(new BackendHealthReport { Pool = "web", Backend = "web-1", State = "unhealthy", Reason = "connection refused" });
        await edge.RequestStream.WriteAsync(new AgentMessage { Health = own }, cts.Token);

        var events = _server.Events(_server.AdminToken);
        await Poll.UntilAsync(async () => (await events.ListEventsAsync(new ListEventsRequest { Name = "web-1", Kind = "Backend" })).Items.Count > 0,
            Timeout, "the edge agent's report on its own backend is recorded");
        var forged = await events.ListEventsAsync(new ListEventsRequest { Name = "db-1" });
        Assert.Empty(forged.Items);
        var db1 = await _server.Management(_server.AdminToken).GetBackendAsync(new GetRequest { Name = "db-1" });
        Assert.DoesNotContain(db1.Status.Agents, a => a.Agent == "edge-1");
        Assert.Equal(2, metrics.ForeignHealthReports.WithLabels("edge").Value - ignoredBefore);
        await edge.RequestStream.CompleteAsync();
    }
}
