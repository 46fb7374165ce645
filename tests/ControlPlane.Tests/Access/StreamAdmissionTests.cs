using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>
/// Issue 19: agents share their tier's token, so after a control-plane restart the whole fleet
/// opens its streams at once. Those opens wait their turn at the token's rate instead of being
/// refused; only a queue past its bound is refused.
/// </summary>
public sealed class StreamAdmissionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AFleetOpeningPastTheRate_IsAdmittedInTurn_WithoutARefusal()
    {
        // 5 opens per second, bursts of 10: 30 streams need about 4 seconds.
        await using var server = await ApiServer.StartAsync(rateLimit: 5);
        var token = await server.CreateTokenAsync("agent", "fleet");
        using var cts = new CancellationTokenSource(Timeout);

        var calls = Enumerable.Range(1, 30).Select(i => server.Sync(token).Sync(cancellationToken: cts.Token)).ToList();
        try
        {
            var snapshots = await Task.WhenAll(calls.Select(async (call, i) =>
            {
                await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = $"fleet-{i}", Tier = "fleet" } }, cts.Token);
                return await call.NextSnapshotAsync(cts.Token);
            }));

            Assert.All(snapshots, s => Assert.Equal(snapshots[0].Hash, s.Hash));
        }
        finally
        {
            calls.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task OpensBeyondTheQueue_AreRefusedWithResourceExhausted()
    {
        // A burst of 10, then room for 2 to wait: of 40 opens at once, some must be refused.
        await using var server = await ApiServer.StartAsync(rateLimit: 5, configureServices: s => s.AddSingleton(new AccessLimits(5, 10) { QueuedStreamOpens = 2 }));
        var token = await server.CreateTokenAsync("agent", "fleet");
        using var cts = new CancellationTokenSource(Timeout);

        var calls = Enumerable.Range(1, 40).Select(i => server.Sync(token).Sync(cancellationToken: cts.Token)).ToList();
        try
        {
            var outcomes = await Task.WhenAll(calls.Select(async (call, i) =>
            {
                try
                {
                    await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = $"fleet-{i}", Tier = "fleet" } }, cts.Token);
                    await call.NextSnapshotAsync(cts.Token);
                    return StatusCode.OK;
                }
                catch (RpcException ex)
                {
                    return ex.StatusCode;
                }
            }));

            Assert.Contains(StatusCode.ResourceExhausted, outcomes);
            Assert.True(outcomes.Count(o => o == StatusCode.OK) >= 10, string.Join(",", outcomes));
            Assert.All(outcomes, o => Assert.True(o is StatusCode.OK or StatusCode.ResourceExhausted, o.ToString()));
        }
        finally
        {
            calls.ForEach(c => c.Dispose());
        }
    }
}
