using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Observability;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Sync;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// What one agent token can make the control plane store, log and do: bounded in size, rate,
/// number of rows and time.
/// </summary>
public sealed class AgentFloodTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int MaxAgents = 3;
    private readonly LogCapture _logs = new();
    private ApiServer _server = null!;

    public async Task InitializeAsync()
    {
        // The last registration wins: a small tier budget and a short expiry for this server.
        _server = await ApiServer.StartAsync(configureServices: s =>
        {
            s.AddSingleton(new AgentRetention(TimeSpan.FromMinutes(5), MaxAgents));
            _logs.AddTo(s);
        });
        var apply = new ApplyRequest();
        apply.Resources.Add(R(Pool("web")));
        apply.Resources.Add(R(Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(R(HttpListener("public", "flood", 8080, "web")));
        await _server.Management(_server.AdminToken).ApplyAsync(apply);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage>> ConnectAsync(string token, string name, CancellationToken cancellationToken)
    {
        var call = _server.Sync(token).Sync(cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = name, Tier = "flood" } }, cancellationToken);
        await call.NextSnapshotAsync(cancellationToken);
        return call;
    }

    private static async Task LeaveAsync(AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage> call, CancellationToken cancellationToken)
    {
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
        }
        call.Dispose();
    }

    private async Task<List<Agent>> AgentsAsync() =>
        [.. (await _server.Management(_server.AdminToken).ListAgentsAsync(new ListRequest())).Items.Where(a => a.Spec.Tier == "flood")];

    [Fact]
    public async Task NackError_IsClippedToAKilobyte_AndCannotForgeLogLines()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var call = await ConnectAsync(await _server.CreateTokenAsync("agent", "flood"), "flood-1", cts.Token);
        var error = "bad snapshot\n2026-01-01 INFO forged line\r\n" + new string('x', 512 * 1024);
        await call.RequestStream.WriteAsync(new AgentMessage { Nack = new Nack { Revision = 7, Error = error } }, cts.Token);

        string? stored = null;
        await Poll.UntilAsync(async () => (stored = (await AgentsAsync()).Single().Status.LastNackError).Length > 0, Timeout, "the NACK to be recorded");
        Assert.True(stored!.Length <= AgentRegistry.MaxErrorChars + 32, $"{stored.Length} characters stored");
        Assert.DoesNotContain('\n', stored);
        Assert.DoesNotContain('\r', stored);
        Assert.StartsWith("revision 7: bad snapshot\\n2026-01-01 INFO forged line", stored, StringComparison.Ordinal);
        var events = await _server.Events(_server.AdminToken).ListEventsAsync(new ListEventsRequest { Agent = "flood-1" });
        Assert.All(events.Items, e => Assert.True(e.Message.Length <= AgentRegistry.MaxErrorChars + 64, $"event of {e.Message.Length} characters"));
        await LeaveAsync(call, cts.Token);
    }

    /// <summary>Text that would start a line of its own in a plain-text log, were it written as it is.</summary>
    private const string Forged = "\n2026-01-01 INFO forged line\r\n\u001b[2K\u2028";

    /// <summary>Every captured log entry of <paramref name="eventId"/> that carries the forged text, checked to hold it escaped on one line.</summary>
    private void AssertLoggedOnOneLine(int eventId, string expectedEscaped)
    {
        var entries = _logs.Entries.Where(e => e.Contains($"[{eventId}]", StringComparison.Ordinal) && e.Contains("forged line", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(entries);
        foreach (var entry in entries)
        {
            Assert.DoesNotContain('\n', entry);
            Assert.DoesNotContain('\r', entry);
            Assert.DoesNotContain('\u001b', entry);
            Assert.DoesNotContain('\u2028', entry);
            Assert.Contains(expectedEscaped, entry, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task GoodbyeReason_CannotForgeLogLines_NorEventLines()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var call = await ConnectAsync(await _server.CreateTokenAsync("agent", "flood"), "flood-bye", cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Goodbye = new Goodbye { Reason = "stopping" + Forged } }, cts.Token);
        await LeaveAsync(call, cts.Token);

        // The event is recorded after the log line is written.
        Event? disconnected = null;
        await Poll.UntilAsync(async () => (disconnected = (await _server.Events(_server.AdminToken).ListEventsAsync(new ListEventsRequest { Agent = "flood-bye" }))
            .Items.SingleOrDefault(e => e.Message.Contains("forged line", StringComparison.Ordinal))) is not null, Timeout, "the AgentDisconnected event");
        Assert.DoesNotContain('\n', disconnected!.Message);
        Assert.DoesNotContain('\r', disconnected.Message);
        AssertLoggedOnOneLine(3002, "stopping\\n2026-01-01 INFO forged line\\r\\n\\u001b[2K\\u2028");
    }

    [Fact]
    public async Task HelloEpoch_CannotForgeLogLines()
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Sync(await _server.CreateTokenAsync("agent", "flood")).Sync(cancellationToken: cts.Token);
        // An epoch that is not this database's, with a revision: the control plane logs it (event 3103).
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "flood-epoch", Tier = "flood", Revision = 5, Epoch = "e" + Forged } }, cts.Token);
        await call.NextSnapshotAsync(cts.Token);

        AssertLoggedOnOneLine(3103, "e\\n2026-01-01 INFO forged line\\r\\n\\u001b[2K\\u2028");
        await LeaveAsync(call, cts.Token);
    }

    [Fact]
    public async Task AckFlood_IsThrottledAndCounted_AndTheStreamStaysUsable()
    {
        var metrics = _server.Host.App.Services.GetRequiredService<ControlPlaneMetrics>();
        var before = metrics.AgentMessagesThrottled.WithLabels("flood", "ack").Value;
        using var cts = new CancellationTokenSource(Timeout);
        using var call = await ConnectAsync(await _server.CreateTokenAsync("agent", "flood"), "flood-1", cts.Token);
        const int sent = 400;
        for (var i = 1; i <= sent; i++)
        {
            await call.RequestStream.WriteAsync(new AgentMessage { Ack = new Ack { Revision = i } }, cts.Token);
        }

        // Within one 10 s window at most 100 are recorded; the rest are counted. A slow machine
        // may span two windows, so the bound is on the recorded ones.
        const int budget = 100;
        Assert.Equal(budget, AgentSyncService.AcksPerWindow);
        await Poll.UntilAsync(() => Task.FromResult(metrics.AgentMessagesThrottled.WithLabels("flood", "ack").Value - before >= sent - 2 * budget),
            Timeout, "the excess ACKs to be counted as throttled");
        var health = new HealthReport { Full = true, Backends = { new BackendHealthReport { Pool = "web", Backend = "web-1", State = "healthy" } } };
        await call.RequestStream.WriteAsync(new AgentMessage { Health = health }, cts.Token);
        await Poll.UntilAsync(async () => (await _server.Management(_server.AdminToken).GetBackendAsync(new GetRequest { Name = "web-1" })).Status.Agents.Any(a => a.Agent == "flood-1"),
            Timeout, "a health report after the flood to be recorded");
        await LeaveAsync(call, cts.Token);
    }

    [Fact]
    public async Task CyclingAgentNames_KeepsTheTierWithinItsRowBudget_GoneLongestLeavesFirst()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var token = await _server.CreateTokenAsync("agent", "flood");
        for (var i = 1; i <= MaxAgents + 3; i++)
        {
            await LeaveAsync(await ConnectAsync(token, $"cycle-{i}", cts.Token), cts.Token);
        }

        var names = (await AgentsAsync()).Select(a => a.Metadata.Name).Order().ToList();
        Assert.Equal(["cycle-4", "cycle-5", "cycle-6"], names);
    }

    [Fact]
    public async Task TierFullOfConnectedAgents_RefusesANewName_AndKeepsThemConnected()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var token = await _server.CreateTokenAsync("agent", "flood");
        var live = new List<AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage>>();
        for (var i = 1; i <= MaxAgents; i++)
        {
            live.Add(await ConnectAsync(token, $"live-{i}", cts.Token));
        }

        using var extra = _server.Sync(token).Sync(cancellationToken: cts.Token);
        await extra.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "one-too-many", Tier = "flood" } }, cts.Token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => extra.ResponseStream.MoveNext(cts.Token));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.All(await AgentsAsync(), a => Assert.True(a.Status.Connected, a.Metadata.Name));
        foreach (var call in live)
        {
            await LeaveAsync(call, cts.Token);
        }
    }

    [Fact]
    public async Task AgentGoneLongerThanTheExpiry_IsForgotten_WithItsHealthView()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var token = await _server.CreateTokenAsync("agent", "flood");
        foreach (var name in new[] { "old", "recent" })
        {
            var call = await ConnectAsync(token, name, cts.Token);
            var health = new HealthReport { Full = true, Backends = { new BackendHealthReport { Pool = "web", Backend = "web-1", State = "healthy" } } };
            await call.RequestStream.WriteAsync(new AgentMessage { Health = health }, cts.Token);
            await Poll.UntilAsync(async () => (await _server.Management(_server.AdminToken).GetBackendAsync(new GetRequest { Name = "web-1" })).Status.Agents.Any(a => a.Agent == name),
                Timeout, $"the health report of {name}");
            await LeaveAsync(call, cts.Token);
        }
        var services = _server.Host.App.Services;
        await using (var db = await services.GetRequiredService<IDbContextFactory<LbDbContext>>().CreateDbContextAsync())
        {
            var longAgo = DateTime.UtcNow - TimeSpan.FromMinutes(6);
            await db.Agents.Where(a => a.Name == "old").ExecuteUpdateAsync(s => s.SetProperty(a => a.LastSeen, longAgo));
        }

        Assert.Equal(1, await services.GetRequiredService<AgentRegistry>().ExpireAsync(cts.Token));

        Assert.Equal(["recent"], (await AgentsAsync()).Select(a => a.Metadata.Name));
        var web1 = await _server.Management(_server.AdminToken).GetBackendAsync(new GetRequest { Name = "web-1" });
        Assert.Equal(["recent"], web1.Status.Agents.Select(a => a.Agent));
    }
}
