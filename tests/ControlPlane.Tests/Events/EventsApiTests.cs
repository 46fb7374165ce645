using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Events;

/// <summary>The Events API over the real server, fed by a real agent stream.</summary>
public sealed class EventsApiTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Pool("web")));
        apply.Resources.Add(R(Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(R(Backend("web-2", "web", "127.0.0.1:9102")));
        apply.Resources.Add(R(HttpListener("public", "edge", 8080, "web")));
        await _server.Management(_server.AdminToken).ApplyAsync(apply);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static AgentMessage Health(bool full, params (string Backend, string State, string Reason)[] backends)
    {
        var report = new HealthReport { Full = full };
        foreach (var (backend, state, reason) in backends)
        {
            report.Backends.Add(new BackendHealthReport { Pool = "web", Backend = backend, State = state, Reason = reason });
        }
        return new AgentMessage { Health = report };
    }

    [Fact]
    public async Task AgentStream_Transitions_AreEvents_OnceEach_InListAndWatch()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var viewer = _server.Events(await _server.CreateTokenAsync("viewer"));
        using var watchAll = viewer.WatchEvents(new WatchEventsRequest(), cancellationToken: cts.Token);
        using var watchWarnings = viewer.WatchEvents(new WatchEventsRequest { Type = "warning" }, cancellationToken: cts.Token);

        using (var agent = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token))
        {
            await agent.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge", SoftwareVersion = "1.2.3" } }, cts.Token);
            var snapshot = await agent.NextSnapshotAsync(cts.Token);
            var ack = new Ack { Revision = snapshot.Revision, SnapshotHash = snapshot.Hash };
            ack.Listeners.Add(new ListenerResult { Name = "public", Programmed = false, Reason = "port 8080 is in use" });
            await agent.RequestStream.WriteAsync(new AgentMessage { Ack = ack }, cts.Token);
            await agent.RequestStream.WriteAsync(Health(true, ("web-1", "unhealthy", "connection refused"), ("web-2", "healthy", "")), cts.Token);
            // The periodic summary repeats the same view: no new events.
            await agent.RequestStream.WriteAsync(Health(true, ("web-1", "unhealthy", "connection refused"), ("web-2", "healthy", "")), cts.Token);
            await agent.RequestStream.WriteAsync(Health(false, ("web-1", "healthy", "")), cts.Token);
            await agent.RequestStream.CompleteAsync();
            while (await agent.ResponseStream.MoveNext(cts.Token))
            {
            }
        }

        var watched = new List<Event>();
        while (watched.LastOrDefault()?.Reason != EventReasons.AgentDisconnected)
        {
            Assert.True(await watchAll.ResponseStream.MoveNext(cts.Token));
            watched.Add(watchAll.ResponseStream.Current);
        }
        // The agent half-closed its stream: it left on purpose, which is no warning.
        string[] expected = [EventReasons.AgentConnected, EventReasons.ListenerFailed, EventReasons.BackendUnhealthy, EventReasons.BackendHealthy, EventReasons.AgentDisconnected];
        Assert.Equal(expected, watched.Select(e => e.Reason));
        Assert.All(watched, e => Assert.Equal("edge-1", e.Agent));
        Assert.True(watched.Zip(watched.Skip(1)).All(p => p.First.Id < p.Second.Id), "ids increase");

        var listed = await viewer.ListEventsAsync(new ListEventsRequest(), cancellationToken: cts.Token);
        Assert.Equal(expected, listed.Items.Select(e => e.Reason));
        Assert.Equal(watched, listed.Items);
        var unhealthy = listed.Items[2];
        Assert.Equal((EventTypes.Warning, EventKinds.Backend, "web-1", "Unhealthy in pool web: connection refused", 1),
            (unhealthy.Type, unhealthy.Kind, unhealthy.Name, unhealthy.Message, unhealthy.Count));
        Assert.Equal("Connected from 127.0.0.1 (tier edge, version 1.2.3)", listed.Items[0].Message);
        Assert.Equal("Not programmed: port 8080 is in use", listed.Items[1].Message);
        Assert.Equal((EventTypes.Normal, "Disconnected (tier edge): the agent closed its stream"), (listed.Items[4].Type, listed.Items[4].Message));

        var warnings = new List<string>();
        while (warnings.Count < 2)
        {
            Assert.True(await watchWarnings.ResponseStream.MoveNext(cts.Token));
            warnings.Add(watchWarnings.ResponseStream.Current.Reason);
        }
        Assert.Equal([EventReasons.ListenerFailed, EventReasons.BackendUnhealthy], warnings);

        var filtered = await viewer.ListEventsAsync(new ListEventsRequest { Kind = "backend", Name = "WEB-1", Agent = "edge-1", Type = "Warning" }, cancellationToken: cts.Token);
        Assert.Equal([EventReasons.BackendUnhealthy], filtered.Items.Select(e => e.Reason));
    }

    [Fact]
    public async Task AgentSayingGoodbye_IsDisconnected_Normal_WhileAResetStream_IsLost_Warning()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var viewer = _server.Events(await _server.CreateTokenAsync("viewer"));
        var sync = _server.Sync(await _server.CreateTokenAsync("agent", "edge"));

        // As the agent does on SIGTERM: Goodbye, half-close, then read until the server ends the stream.
        using (var leaving = sync.Sync(cancellationToken: cts.Token))
        {
            await leaving.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge" } }, cts.Token);
            await leaving.NextSnapshotAsync(cts.Token);
            await leaving.RequestStream.WriteAsync(new AgentMessage { Goodbye = new Goodbye { Reason = "the agent is shutting down" } }, cts.Token);
            await leaving.RequestStream.CompleteAsync();
            while (await leaving.ResponseStream.MoveNext(cts.Token))
            {
            }
        }
        // As kill -9 does: the stream is reset, no Goodbye, no half-close.
        using (var crashing = sync.Sync(cancellationToken: cts.Token))
        {
            await crashing.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-2", Tier = "edge" } }, cts.Token);
            await crashing.NextSnapshotAsync(cts.Token);
        }

        Event? disconnected = null;
        Event? lost = null;
        while (disconnected is null || lost is null)
        {
            var items = (await viewer.ListEventsAsync(new ListEventsRequest { Kind = "agent" }, cancellationToken: cts.Token)).Items;
            disconnected = items.SingleOrDefault(e => e.Reason == EventReasons.AgentDisconnected);
            lost = items.SingleOrDefault(e => e.Reason == EventReasons.AgentLost);
            await Task.Delay(20, cts.Token);
        }
        Assert.Equal((EventTypes.Normal, "edge-1", "Disconnected (tier edge): the agent is shutting down"), (disconnected.Type, disconnected.Name, disconnected.Message));
        Assert.Equal((EventTypes.Warning, "edge-2", "Lost (tier edge): the connection was lost"), (lost.Type, lost.Name, lost.Message));
    }

    [Fact]
    public async Task List_Limit_GivesTheNewestOldestFirst_AndAfterIdPagesForward_AndWatchResumesAfterIt()
    {
        var recorder = _server.Host.App.Services.GetRequiredService<EventRecorder>();
        foreach (var name in new[] { "a", "b", "c", "d", "e" })
        {
            await recorder.RecordAsync(EventDraft.Normal(EventReasons.CertificateRotated, EventKinds.Certificate, name, "", "Rotated"));
        }
        var client = _server.Events(_server.AdminToken);
        var request = new ListEventsRequest { Kind = EventKinds.Certificate };

        var all = await client.ListEventsAsync(request);
        Assert.Equal(["a", "b", "c", "d", "e"], all.Items.Select(e => e.Name));
        request.Limit = 2;
        Assert.Equal(["d", "e"], (await client.ListEventsAsync(request)).Items.Select(e => e.Name));
        request.AfterId = all.Items[0].Id;
        Assert.Equal(["b", "c"], (await client.ListEventsAsync(request)).Items.Select(e => e.Name));

        using var cts = new CancellationTokenSource(Timeout);
        using var watch = client.WatchEvents(new WatchEventsRequest { Kind = "certificate", AfterId = all.Items[3].Id }, cancellationToken: cts.Token);
        Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
        Assert.Equal("e", watch.ResponseStream.Current.Name);
        await recorder.RecordAsync(EventDraft.Normal(EventReasons.CertificateRotated, EventKinds.Certificate, "f", "", "Rotated"));
        Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
        Assert.Equal("f", watch.ResponseStream.Current.Name);
        // A repeat comes again, with a higher id and the count raised.
        await recorder.RecordAsync(EventDraft.Normal(EventReasons.CertificateRotated, EventKinds.Certificate, "f", "", "Rotated"));
        Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(("f", 2), (watch.ResponseStream.Current.Name, watch.ResponseStream.Current.Count));
    }

    [Fact]
    public async Task BadFilterLimitOrAfterId_IsInvalidArgument_NamingEachField()
    {
        var client = _server.Events(_server.AdminToken);
        var ex = await RpcAssert.StatusAsync(
            async () => await client.ListEventsAsync(new ListEventsRequest { Kind = "widget", Type = "Error", Limit = 5000, AfterId = -1 }),
            StatusCode.InvalidArgument);
        Assert.Equal(["kind", "type", "limit", "afterId"], RpcAssert.Violations(ex).Select(v => v.Field));

        using var cts = new CancellationTokenSource(Timeout);
        using var watch = client.WatchEvents(new WatchEventsRequest { Type = "Error" }, cancellationToken: cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
    }

    [Fact]
    public async Task RevokingTheToken_EndsAWatch_AndAgentTokensMayNotWatch()
    {
        var created = await _server.Access(_server.AdminToken).CreateTokenAsync(new CreateTokenRequest { Role = "viewer" });
        using var cts = new CancellationTokenSource(Timeout);
        using var watch = _server.Events(created.Secret).WatchEvents(new WatchEventsRequest(), cancellationToken: cts.Token);
        await _server.Access(_server.AdminToken).RevokeTokenAsync(new RevokeTokenRequest { Id = created.Token.Id });
        var ended = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await watch.ResponseStream.MoveNext(cts.Token))
            {
            }
        });
        Assert.Equal(StatusCode.Unauthenticated, ended.StatusCode);

        using var agentWatch = _server.Events(await _server.CreateTokenAsync("agent", "edge")).WatchEvents(new WatchEventsRequest(), cancellationToken: cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => agentWatch.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
    }
}
