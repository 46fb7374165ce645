using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>The API's limits over the real server: calls per token, failed authentications per address, request size.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private ApiServer _server = null!;

    // 5 calls per second per token, bursts of 10; failed authentications 10 per second, bursts of 20.
    public async Task InitializeAsync() => _server = await ApiServer.StartAsync(rateLimit: 5);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ABurstPastTheLimit_IsRefusedWithResourceExhausted_AndOtherTokensAreNotAffected()
    {
        var viewer = await _server.CreateTokenAsync("viewer");
        var client = _server.Management(viewer);
        var statuses = new List<StatusCode>();
        for (var i = 0; i < 40; i++)
        {
            try
            {
                await client.ListPoolsAsync(new ListRequest());
                statuses.Add(StatusCode.OK);
            }
            catch (RpcException ex)
            {
                statuses.Add(ex.StatusCode);
            }
        }
        Assert.Contains(StatusCode.ResourceExhausted, statuses);
        Assert.True(statuses.Count(s => s == StatusCode.OK) >= 10, string.Join(",", statuses));
        Assert.All(statuses, s => Assert.True(s is StatusCode.OK or StatusCode.ResourceExhausted, s.ToString()));

        // The bucket is per token: another token still gets through.
        var other = await _server.CreateTokenAsync("viewer");
        await _server.Management(other).ListPoolsAsync(new ListRequest());
    }

    [Fact]
    public async Task RepeatedBadTokens_AreSlowedDown()
    {
        var client = _server.Management("lbt_t-000000000000_guess");
        var statuses = new List<StatusCode>();
        for (var i = 0; i < 60; i++)
        {
            try
            {
                await client.ListPoolsAsync(new ListRequest());
                statuses.Add(StatusCode.OK);
            }
            catch (RpcException ex)
            {
                statuses.Add(ex.StatusCode);
            }
        }
        Assert.DoesNotContain(StatusCode.OK, statuses);
        Assert.Equal(StatusCode.Unauthenticated, statuses[0]);
        Assert.Contains(StatusCode.ResourceExhausted, statuses);
    }

    [Fact]
    public async Task ARequestOverTheSizeLimit_IsRefused_AndChangesNothing()
    {
        var before = await _server.FingerprintAsync();
        var pool = new Pool { Metadata = new ObjectMeta { Name = "big" }, Spec = new PoolSpec { Protocol = "http" } };
        pool.Metadata.Labels.Add("a", new string('x', 5 * 1024 * 1024));
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await _server.Management(_server.AdminToken).CreatePoolAsync(new WritePoolRequest { Pool = pool }));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(before, await _server.FingerprintAsync());
    }
}
