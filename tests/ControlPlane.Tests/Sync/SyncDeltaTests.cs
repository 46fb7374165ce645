using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>
/// Deltas on the agent stream, over the real server: sent only to an agent that accepts them and
/// has acknowledged the delta's base; a whole snapshot to everyone else and to an agent that asks.
/// </summary>
public sealed class SyncDeltaTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static async Task<(ApiServer Server, string Tier, string Token)> StartAsync(string prefix)
    {
        var server = await ApiServer.StartAsync();
        var tier = prefix + "-" + Guid.NewGuid().ToString("N")[..8];
        await server.Management(server.AdminToken).ApplyAsync(new ApplyRequest
        {
            // Ten backends: a delta is sent only when it is smaller than the snapshot.
            Resources = { R(Pool("web")), R(HttpListener("web", tier, 8080, "web")), Enumerable.Range(1, 10).Select(i => R(Backend($"web-{i}", "web", $"127.0.0.1:{9100 + i}"))) },
        });
        return (server, tier, await server.CreateTokenAsync("agent", tier));
    }

    private static Task ChangeWeightAsync(ApiServer server, int weight) =>
        server.Management(server.AdminToken).ApplyAsync(new ApplyRequest { Resources = { R(Backend("web-2", "web", "127.0.0.1:9102", s => s.Weight = weight)) } }).ResponseAsync;

    private static async Task<ControlPlaneMessage> NextConfigAsync(AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage> call, CancellationToken cancellationToken)
    {
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            if (call.ResponseStream.Current.MessageCase is ControlPlaneMessage.MessageOneofCase.Snapshot or ControlPlaneMessage.MessageOneofCase.Delta)
            {
                return call.ResponseStream.Current;
            }
        }
        throw new InvalidOperationException("the stream ended");
    }

    /// <summary>ACKs what the agent <paramref name="name"/> was sent and waits until the control plane has recorded it.</summary>
    private static async Task AckAsync(ApiServer server, AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage> call, string name, long revision, string hash, CancellationToken cancellationToken)
    {
        await call.RequestStream.WriteAsync(new AgentMessage { Ack = new Ack { Revision = revision, SnapshotHash = hash } }, cancellationToken);
        await Poll.UntilAsync(async () => (await server.Management(server.AdminToken).GetAgentAsync(new GetRequest { Name = name })).Status.AppliedRevision == revision, Timeout, $"the ACK of revision {revision} to be recorded");
    }

    [Fact]
    public async Task OneBackendChange_ReachesAnAckedDeltaAgentAsADelta_AndAnOldAgentAsASnapshot()
    {
        var (server, tier, token) = await StartAsync("delta");
        await using var _ = server;
        using var cts = new CancellationTokenSource(Timeout);
        using var modern = server.Sync(token).Sync(cancellationToken: cts.Token);
        using var old = server.Sync(token).Sync(cancellationToken: cts.Token);
        await modern.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "modern-1", Tier = tier, AcceptsDeltas = true } }, cts.Token);
        await old.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "old-1", Tier = tier } }, cts.Token);
        var first = (await NextConfigAsync(modern, cts.Token)).Snapshot;
        Assert.NotNull(first);
        await old.NextSnapshotAsync(cts.Token);
        await AckAsync(server, modern, "modern-1", first.Revision, first.Hash, cts.Token);

        await ChangeWeightAsync(server, 5);

        var delta = (await NextConfigAsync(modern, cts.Token)).Delta;
        Assert.NotNull(delta);
        Assert.Equal((first.Revision, first.Hash), (delta.BaseRevision, delta.BaseHash));
        var upserted = Assert.Single(delta.UpsertedBackends);
        Assert.Equal(("web", "web-2", 5), (upserted.Pool, upserted.Backend.Name, upserted.Backend.Weight));
        var whole = await old.NextSnapshotAsync(cts.Token);
        Assert.Equal((whole.Revision, whole.Hash), (delta.Revision, delta.Hash));
        Assert.Equal(5, SnapshotData.Parser.ParseFrom(whole.Payload).Pools.Single().Backends.Single(b => b.Name == "web-2").Weight);
    }

    [Fact]
    public async Task AgentThatHasNotAckedTheBase_GetsTheWholeSnapshot()
    {
        var (server, tier, token) = await StartAsync("unacked");
        await using var _ = server;
        using var cts = new CancellationTokenSource(Timeout);
        using var call = server.Sync(token).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "slow-1", Tier = tier, AcceptsDeltas = true } }, cts.Token);
        Assert.NotNull((await NextConfigAsync(call, cts.Token)).Snapshot);

        await ChangeWeightAsync(server, 3);

        Assert.NotNull((await NextConfigAsync(call, cts.Token)).Snapshot);
    }

    [Fact]
    public async Task NackAskingForTheSnapshot_IsAnsweredWithTheWholeSnapshot_ThenDeltasResume()
    {
        var (server, tier, token) = await StartAsync("resync");
        await using var _ = server;
        using var cts = new CancellationTokenSource(Timeout);
        using var call = server.Sync(token).Sync(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "resync-1", Tier = tier, AcceptsDeltas = true } }, cts.Token);
        var first = (await NextConfigAsync(call, cts.Token)).Snapshot;
        await AckAsync(server, call, "resync-1", first.Revision, first.Hash, cts.Token);
        await ChangeWeightAsync(server, 4);
        var delta = (await NextConfigAsync(call, cts.Token)).Delta;
        Assert.NotNull(delta);

        await call.RequestStream.WriteAsync(new AgentMessage { Nack = new Nack { Revision = delta.Revision, SnapshotHash = delta.Hash, Error = "delta: hash mismatch", WantsSnapshot = true } }, cts.Token);

        var whole = (await NextConfigAsync(call, cts.Token)).Snapshot;
        Assert.NotNull(whole);
        Assert.Equal((delta.Revision, delta.Hash), (whole.Revision, whole.Hash));
        await AckAsync(server, call, "resync-1", whole.Revision, whole.Hash, cts.Token);
        await ChangeWeightAsync(server, 6);
        Assert.NotNull((await NextConfigAsync(call, cts.Token)).Delta);
    }
}
