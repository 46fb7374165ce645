using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// Issue 19: ACKs, NACKs, health views and last-seen times are kept in memory and written in bulk. The API
/// shows them at once, the agent's row gets them within about a second, and a clean stop writes
/// what is still pending.
/// </summary>
public sealed class AgentStateFlushTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartWithEdgeWebAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<AgentEntity?> RowAsync(string name)
    {
        var factory = _server.Host.App.Services.GetRequiredService<IDbContextFactory<LbDbContext>>();
        await using var db = await factory.CreateDbContextAsync();
        return await db.Agents.AsNoTracking().SingleOrDefaultAsync(a => a.Name == name);
    }

    private async Task<Snapshot> AckAsync(string name, CancellationToken cancellationToken)
    {
        var call = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = name, Tier = "edge" } }, cancellationToken);
        var snapshot = await call.NextSnapshotAsync(cancellationToken);
        var ack = new Ack { Revision = snapshot.Revision, SnapshotHash = snapshot.Hash };
        ack.Listeners.Add(new ListenerResult { Name = "public", Programmed = false, Reason = "port 8080 is in use" });
        await call.RequestStream.WriteAsync(new AgentMessage { Ack = ack }, cancellationToken);
        return snapshot;
    }

    [Fact]
    public async Task Ack_IsShownAtOnce_AndReachesTheAgentsRow()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var snapshot = await AckAsync("edge-1", cts.Token);
        var management = _server.Management(_server.AdminToken);

        await Poll.UntilAsync(async () => (await management.GetAgentAsync(new GetRequest { Name = "edge-1" })).Status.AppliedRevision == snapshot.Revision, Timeout, "the ACK to be shown");
        var config = await management.GetAgentConfigAsync(new GetRequest { Name = "edge-1" });
        Assert.True(config.InSync);
        var tier = (await management.GetStatusAsync(new GetStatusRequest())).Tiers.Single(t => t.Tier == "edge");
        Assert.Equal(1, tier.AgentsInSync);

        await Poll.UntilAsync(async () => (await RowAsync("edge-1"))?.AppliedHash == snapshot.Hash, Timeout, "the ACK to be written to the agent's row");
        var row = await RowAsync("edge-1");
        Assert.Equal(snapshot.Revision, row!.AppliedRevision);
        Assert.Contains("port 8080 is in use", row.ListenerResultsJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nack_IsShownAtOnce()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var call = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-2", Tier = "edge" } }, cts.Token);
        var snapshot = await call.NextSnapshotAsync(cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Nack = new Nack { Revision = snapshot.Revision, Error = "cannot decode" } }, cts.Token);

        await Poll.UntilAsync(async () => (await _server.Management(_server.AdminToken).GetAgentAsync(new GetRequest { Name = "edge-2" })).Status.LastNackError.Contains("cannot decode", StringComparison.Ordinal),
            Timeout, "the NACK to be shown");
        call.Dispose();
    }

    [Fact]
    public async Task HealthReports_AreShownAtOnce_AndAFullSummaryReplacesTheAgentsRows()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var call = _server.Sync(await _server.CreateTokenAsync("agent", "edge")).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-4", Tier = "edge" } }, cts.Token);
        await call.NextSnapshotAsync(cts.Token);
        var management = _server.Management(_server.AdminToken);
        var report = new HealthReport { Full = true };
        report.Backends.Add(new BackendHealthReport { Pool = "web", Backend = "web-1", State = "unhealthy", Reason = "connection refused" });
        await call.RequestStream.WriteAsync(new AgentMessage { Health = report }, cts.Token);

        await Poll.UntilAsync(async () => (await management.GetBackendAsync(new GetRequest { Name = "web-1" })).Status.Agents.Any(a => a.Agent == "edge-4" && a.State == "unhealthy"),
            Timeout, "the report to be shown");
        await Poll.UntilAsync(async () => await HealthRowsAsync("edge-4") is [{ State: "unhealthy" }], Timeout, "the report to reach the rows");

        // A summary without the backend replaces the view: the row goes, in memory and then in the table.
        await call.RequestStream.WriteAsync(new AgentMessage { Health = new HealthReport { Full = true } }, cts.Token);
        await Poll.UntilAsync(async () => (await management.GetBackendAsync(new GetRequest { Name = "web-1" })).Status.Agents.All(a => a.Agent != "edge-4"), Timeout, "the empty summary to be shown");
        await Poll.UntilAsync(async () => (await HealthRowsAsync("edge-4")).Count == 0, Timeout, "the empty summary to reach the rows");
        call.Dispose();
    }

    private async Task<List<BackendHealthEntity>> HealthRowsAsync(string agent)
    {
        var factory = _server.Host.App.Services.GetRequiredService<IDbContextFactory<LbDbContext>>();
        await using var db = await factory.CreateDbContextAsync();
        return await db.BackendHealth.AsNoTracking().Where(h => h.Agent == agent).ToListAsync();
    }

    [Fact]
    public async Task ABulkFlush_NeverSavesAnOlderAckOverASingleRowWriteOfANewerOne()
    {
        // A listener outcome that changes is written at once (single-row write) while the bulk flush
        // may be writing the previous ACK: the row must end at the newest ACK every time.
        using var cts = new CancellationTokenSource(Timeout);
        var snapshot = await AckAsync("edge-5", cts.Token);
        var registry = _server.Host.App.Services.GetRequiredService<LoadBalancer.ControlPlane.Sync.AgentRegistry>();
        var connection = new LoadBalancer.ControlPlane.Sync.AgentConnection("edge-5", "edge");
        var revision = snapshot.Revision;
        for (var i = 0; i < 150; i++)
        {
            // An ACK with the same outcomes (in memory only), then a newer one whose outcome changed,
            // racing a flush that picks up the first.
            await registry.RecordAckAsync(connection, AckOf(revision + 1, programmed: i % 2 == 0), cts.Token);
            var flush = Task.Run(() => registry.FlushAsync(cts.Token), cts.Token);
            await registry.RecordAckAsync(connection, AckOf(revision + 2, programmed: i % 2 != 0), cts.Token);
            await flush;
            await registry.FlushAsync(cts.Token);
            revision += 2;
            var row = await RowAsync("edge-5");
            Assert.True(row!.AppliedRevision == revision, $"round {i}: the row holds revision {row.AppliedRevision}, the newest ACK was {revision}");
        }
    }

    private static Ack AckOf(long revision, bool programmed)
    {
        var ack = new Ack { Revision = revision, SnapshotHash = $"hash-{revision}" };
        ack.Listeners.Add(new ListenerResult { Name = "public", Programmed = programmed, Reason = programmed ? "" : "port 8080 is in use" });
        return ack;
    }

    [Fact]
    public async Task ACleanStop_WritesWhatIsPending()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var snapshot = await AckAsync("edge-3", cts.Token);
        var management = _server.Management(_server.AdminToken);
        await Poll.UntilAsync(async () => (await management.GetAgentAsync(new GetRequest { Name = "edge-3" })).Status.AppliedRevision == snapshot.Revision, Timeout, "the ACK to be recorded");

        await _server.Host.App.StopAsync(cts.Token);

        var row = await RowAsync("edge-3");
        Assert.Equal(snapshot.Hash, row!.AppliedHash);
        Assert.False(row.Connected);
    }
}
