using System.Globalization;
using System.Text.RegularExpressions;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Observability;

/// <summary>
/// lb_controlplane_agent_in_sync{tier,agent}, which the "agent not ACKing the current revision"
/// alert watches: 0 until the agent ACKs its tier's current snapshot, 0 again when a newer one
/// is published and not ACKed, gone once the agent disconnects.
/// </summary>
public sealed class AgentInSyncMetricTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task InSync_FollowsTheAgentsAcksOfItsTiersCurrentSnapshot()
    {
        await using var server = await ApiServer.StartAsync();
        // A tier of its own: the Prometheus registry is shared by every host of this process.
        var tier = "sync-" + Guid.NewGuid().ToString("N")[..8];
        var admin = server.Management(server.AdminToken);
        await admin.ApplyAsync(new ApplyRequest { Resources = { R(Pool("watched")), R(HttpListener("watched", tier, 8080, "watched")) } });

        using var cts = new CancellationTokenSource(Timeout);
        using var call = server.Sync(await server.CreateTokenAsync("agent", tier)).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "lagging-1", Tier = tier } }, cts.Token);
        var first = await call.NextSnapshotAsync(cts.Token);
        Assert.Equal(0, await InSyncAsync(server, tier, "lagging-1"));

        await call.RequestStream.WriteAsync(new AgentMessage { Ack = new Ack { Revision = first.Revision, SnapshotHash = first.Hash } }, cts.Token);
        await Poll.UntilAsync(async () => await InSyncAsync(server, tier, "lagging-1") == 1, Timeout, "in sync after the ACK");

        // A change to the tier publishes a newer snapshot, which this agent does not ACK.
        await admin.ApplyAsync(new ApplyRequest { Resources = { R(Pool("watched-2")), R(HttpListener("watched-2", tier, 8081, "watched-2")) } });
        var second = await call.NextSnapshotAsync(cts.Token);
        Assert.NotEqual(first.Hash, second.Hash);
        await Poll.UntilAsync(async () => await InSyncAsync(server, tier, "lagging-1") == 0, Timeout, "behind once a newer snapshot is published");

        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(cts.Token))
        {
        }
        await Poll.UntilAsync(async () => await InSyncAsync(server, tier, "lagging-1") is null, Timeout, "no series once the agent has gone");
    }

    /// <summary>The agent's series on the control plane's admin /metrics, or null when absent.</summary>
    private static async Task<double?> InSyncAsync(ApiServer server, string tier, string agent)
    {
        var adminUrl = server.Host.App.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal));
        using var http = new HttpClient();
        var text = await http.GetStringAsync(adminUrl.TrimEnd('/') + "/metrics");
        var match = Regex.Match(text, $"^lb_controlplane_agent_in_sync\\{{tier=\"{Regex.Escape(tier)}\",agent=\"{Regex.Escape(agent)}\"\\}} (\\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }
}
