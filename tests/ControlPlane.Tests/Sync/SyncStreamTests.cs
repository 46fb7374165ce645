using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Sync;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;
using Xunit.Abstractions;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// The stream limits of <see cref="AgentSyncService"/> are process-wide settings: the tests that
/// shorten them run alone (after every parallel test), so no other stream sees their values.
/// </summary>
[CollectionDefinition(nameof(SyncStreamLimits), DisableParallelization = true)]
public sealed class SyncStreamLimits;

/// <summary>
/// What the agent stream does where it runs, over the real server and a real gRPC stream: a
/// silent stream is closed, a health-report flood is capped, a burst of writes is coalesced into
/// fewer pushes that end at the last revision, and a NACK is recorded (agent status, event, metric).
/// Metrics are process-wide, so each test uses a tier of its own.
/// </summary>
[Collection(nameof(SyncStreamLimits))]
public sealed class SyncStreamTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SilentStream_IsClosedAfterTheSilenceTimeout_AndAStreamThatTalksIsNot()
    {
        // The contract (README, Limits) is 60 seconds; the test shortens it, through the same setting.
        Assert.Equal(TimeSpan.FromSeconds(60), AgentSyncService.SilenceTimeout);
        var timeout = TimeSpan.FromSeconds(2);
        AgentSyncService.SilenceTimeout = timeout;
        try
        {
            await using var server = await ApiServer.StartAsync();
            var tier = UniqueTier("silent");
            var token = await server.CreateTokenAsync("agent", tier);
            using var cts = new CancellationTokenSource(Timeout);
            using var quiet = server.Sync(token).Sync(cancellationToken: cts.Token);
            using var chatty = server.Sync(token).Sync(cancellationToken: cts.Token);
            await quiet.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "quiet-1", Tier = tier } }, cts.Token);
            await chatty.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "chatty-1", Tier = tier } }, cts.Token);
            var snapshot = await quiet.NextSnapshotAsync(cts.Token);
            var silentSince = Stopwatch.StartNew();
            await chatty.NextSnapshotAsync(cts.Token);

            // The chatty agent sends an ACK every half timeout, for three timeouts: never closed.
            var talking = Task.Run(async () =>
            {
                for (var sent = Stopwatch.StartNew(); sent.Elapsed < timeout * 3;)
                {
                    await chatty.RequestStream.WriteAsync(new AgentMessage { Ack = new Ack { Revision = snapshot.Revision, SnapshotHash = snapshot.Hash } }, cts.Token);
                    await Task.Delay(timeout / 4, cts.Token);
                }
            });

            var closed = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await quiet.ResponseStream.MoveNext(cts.Token))
                {
                }
            });
            var after = silentSince.Elapsed;
            Assert.Equal(StatusCode.DeadlineExceeded, closed.StatusCode);
            Assert.Equal("no message from the agent for 2 seconds", closed.Status.Detail);
            Assert.True(after >= timeout - TimeSpan.FromMilliseconds(100), $"closed after {after}, before the {timeout} timeout");

            await talking;
            await chatty.RequestStream.CompleteAsync();
            // The chatty stream ends cleanly at its own request (an exception here means it was closed).
            while (await chatty.ResponseStream.MoveNext(cts.Token))
            {
            }

            var management = server.Management(server.AdminToken);
            var agent = await management.GetAgentAsync(new GetRequest { Name = "quiet-1" });
            Assert.False(agent.Status.Connected);
            var events = await server.Events(server.AdminToken).ListEventsAsync(new ListEventsRequest { Agent = "quiet-1" });
            Assert.Contains(events.Items, e => e.Reason == "AgentLost" && e.Type == "Warning" && e.Message.Contains("no message for 2 seconds", StringComparison.Ordinal));
            var chattyEvents = await server.Events(server.AdminToken).ListEventsAsync(new ListEventsRequest { Agent = "chatty-1" });
            Assert.DoesNotContain(chattyEvents.Items, e => e.Reason == "AgentLost");
        }
        finally
        {
            AgentSyncService.SilenceTimeout = TimeSpan.FromSeconds(60);
        }
    }

    [Fact]
    public async Task HealthReportFlood_OnAStream_IsCappedPerWindow_InTheStoreTheMetricAndTheLog()
    {
        Assert.Equal(20, AgentSyncService.HealthReportsPerWindow);
        Assert.Equal(TimeSpan.FromSeconds(10), AgentSyncService.HealthWindow);
        // One window for the whole flood, however slow the machine: the count is then exact.
        AgentSyncService.HealthWindow = TimeSpan.FromHours(1);
        var logs = new LogCapture();
        try
        {
            await using var server = await ApiServer.StartAsync(configureServices: logs.AddTo);
            var tier = UniqueTier("flood");
            await server.Management(server.AdminToken).ApplyAsync(new ApplyRequest
            {
                Resources = { R(Pool("flood")), R(Backend("flood-1", "flood")), R(HttpListener("flood", tier, 8080, "flood")) },
            });
            using var cts = new CancellationTokenSource(Timeout);
            using var call = server.Sync(await server.CreateTokenAsync("agent", tier)).Sync(cancellationToken: cts.Token);
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "flooder-1", Tier = tier } }, cts.Token);
            await call.NextSnapshotAsync(cts.Token);

            // 200 reports, each carrying its number as the in-flight count.
            for (var i = 1; i <= 200; i++)
            {
                var report = new HealthReport { Backends = { new BackendHealthReport { Pool = "flood", Backend = "flood-1", State = "healthy", InFlight = i } } };
                await call.RequestStream.WriteAsync(new AgentMessage { Health = report }, cts.Token);
            }
            // The server reads the stream in order: once it ends, every report has been handled.
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
            }

            Assert.Equal(20, await MetricAsync(server, "lb_controlplane_health_reports_total", tier));
            var backend = await server.Management(server.AdminToken).GetBackendAsync(new GetRequest { Name = "flood-1" });
            var view = Assert.Single(backend.Status.Agents, a => a.Agent == "flooder-1");
            Assert.Equal(20, view.InFlight);
            var throttled = logs.Entries.Count(e => e.Contains("[3102]", StringComparison.Ordinal) && e.Contains("flooder-1", StringComparison.Ordinal));
            Assert.Equal(1, throttled);
        }
        finally
        {
            AgentSyncService.HealthWindow = TimeSpan.FromSeconds(10);
        }
    }

    [Fact]
    public async Task BurstOfWrites_IsPushedInFewerSnapshots_NoSoonerThanTheDebounce_AndTheLastRevisionReachesTheAgent()
    {
        var logs = new LogCapture();
        await using var server = await ApiServer.StartAsync(configureServices: logs.AddTo);
        var tier = UniqueTier("burst");
        var management = server.Management(server.AdminToken);
        await management.ApplyAsync(new ApplyRequest { Resources = { R(Pool("burst")), R(HttpListener("burst", tier, 8080, "burst")) } });
        using var cts = new CancellationTokenSource(Timeout);
        using var call = server.Sync(await server.CreateTokenAsync("agent", tier)).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "burst-1", Tier = tier } }, cts.Token);
        var first = await call.NextSnapshotAsync(cts.Token);

        const int writes = 40;
        var received = new List<long>();
        var reading = Task.Run(async () =>
        {
            while (true)
            {
                var snapshot = await call.NextSnapshotAsync(cts.Token);
                received.Add(snapshot.Revision);
                if (SnapshotData.Parser.ParseFrom(snapshot.Payload).Pools.Sum(p => p.Backends.Count) == writes)
                {
                    return;
                }
            }
        });
        var burst = Stopwatch.StartNew();
        var created = await Task.WhenAll(Enumerable.Range(1, writes).Select(i =>
            management.CreateBackendAsync(new WriteBackendRequest { Backend = Backend($"burst-{i}", "burst", $"127.0.0.1:{10000 + i}") }).ResponseAsync));
        burst.Stop();
        var lastRevision = created.Max(b => b.Metadata.ResourceVersion);
        await reading;

        var figures = $"{writes} writes (revisions {first.Revision + 1}..{lastRevision}) in {burst.ElapsedMilliseconds} ms pushed as {received.Count} snapshots: {string.Join(", ", received)}";
        output.WriteLine(figures);
        Assert.Equal(lastRevision, received[^1]);
        Assert.True(received.Zip(received.Skip(1)).All(p => p.First < p.Second), "revisions must only grow: " + figures);
        Assert.True(received.Count < writes, "the burst was not coalesced: " + figures);

        // The first push of the burst waited out the debounce after the commit that woke the
        // publisher (the burst's first write): both times are taken in the server, from its logs.
        var committed = Logged(logs, "[1001] Committed revision " + (first.Revision + 1) + " ");
        var published = Logged(logs, $"[2001] Tier {tier} snapshot at revision {received[0]} ");
        var waited = Stopwatch.GetElapsedTime(committed, published);
        output.WriteLine($"first push {waited.TotalMilliseconds:0} ms after the first commit");
        Assert.True(waited >= SnapshotPublisher.Debounce, $"the first push came {waited.TotalMilliseconds:0} ms after the first commit, within the {SnapshotPublisher.Debounce.TotalMilliseconds} ms debounce: " + figures);
    }

    /// <summary>When the first log entry containing <paramref name="text"/> was written.</summary>
    private static long Logged(LogCapture logs, string text)
    {
        var entries = logs.TimedEntries.Where(e => e.Entry.Contains(text, StringComparison.Ordinal)).ToList();
        Assert.True(entries.Count > 0, $"nothing logged with '{text}'");
        return entries[0].Timestamp;
    }

    [Fact]
    public async Task Nack_IsRecordedByTheControlPlane_InTheAgentStatus_AnEvent_AndTheMetric()
    {
        await using var server = await ApiServer.StartAsync();
        var tier = UniqueTier("nack");
        await server.Management(server.AdminToken).ApplyAsync(new ApplyRequest { Resources = { R(Pool("nacked")), R(HttpListener("nacked", tier, 8080, "nacked")) } });
        Assert.Equal(0, await MetricAsync(server, "lb_controlplane_nacks_total", tier));

        using var cts = new CancellationTokenSource(Timeout);
        using var call = server.Sync(await server.CreateTokenAsync("agent", tier)).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "nacker-1", Tier = tier } }, cts.Token);
        var snapshot = await call.NextSnapshotAsync(cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Nack = new Nack { Revision = snapshot.Revision, Error = "snapshot payload: truncated message" } }, cts.Token);
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(cts.Token))
        {
        }

        var agent = await server.Management(server.AdminToken).GetAgentAsync(new GetRequest { Name = "nacker-1" });
        Assert.Equal($"revision {snapshot.Revision}: snapshot payload: truncated message", agent.Status.LastNackError);
        var listed = await server.Management(server.AdminToken).ListAgentsAsync(new ListRequest());
        Assert.Contains(listed.Items, a => a.Metadata.Name == "nacker-1" && a.Status.LastNackError == agent.Status.LastNackError);
        var events = await server.Events(server.AdminToken).ListEventsAsync(new ListEventsRequest { Agent = "nacker-1", Type = "Warning" });
        var rejected = Assert.Single(events.Items, e => e.Reason == "SnapshotRejected");
        Assert.Equal($"Rejected revision {snapshot.Revision}: snapshot payload: truncated message", rejected.Message);
        Assert.Equal(1, await MetricAsync(server, "lb_controlplane_nacks_total", tier));
    }

    /// <summary>A tier name no other test uses: the Prometheus registry is shared by every host of this process.</summary>
    private static string UniqueTier(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The value of <paramref name="metric"/>{tier="<paramref name="tier"/>"} on the control plane's admin /metrics; 0 when absent.</summary>
    private static async Task<double> MetricAsync(ApiServer server, string metric, string tier)
    {
        var admin = server.Host.App.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal));
        using var http = new HttpClient();
        var text = await http.GetStringAsync(admin.TrimEnd('/') + "/metrics");
        var match = Regex.Match(text, "^" + Regex.Escape(metric) + @"\{tier=""" + Regex.Escape(tier) + @"""\} (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }
}
