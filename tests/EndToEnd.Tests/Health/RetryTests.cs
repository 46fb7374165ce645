using System.Diagnostics;
using System.Net;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.LoadBalancing;
using LoadBalancer.Testing;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Health;

/// <summary>
/// Issue 4 retries, through a real agent: what is retried (a failed connect, whatever the
/// method, with its body intact), what never is (a POST that reached a backend), and
/// connectTimeout answering 504.
/// </summary>
public sealed class RetryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task GetReset_AfterTheBackendReadIt_IsAnsweredByAnotherBackend_PostInTheSameCaseIsNot()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var resetter = ResettingBackend.Start();
        await using var healthy = await ControlledBackend.StartAsync("ok-1");
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var port = Ports.Free();
            await cluster.StartAgentAsync("edge", "edge-1");
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("resets", extra: "  retries: 1"),
                Yaml.Backend("reset-1", "resets", resetter.Port),
                Yaml.Backend("ok-1", "resets", healthy.Port),
                Yaml.HttpListener("resets", "edge", port, "resets")))).ExitCode);
            var url = $"http://127.0.0.1:{port}";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url + "/") == "ok-1", Propagation, "the listener", cluster.Diagnostics);

            // Round-robin gives the resetting backend its turn first for some of the GETs: it reads
            // each request and resets the connection without a byte of answer. A GET may run again,
            // so every one is answered by ok-1, once.
            var resetBefore = resetter.Requests;
            var healthyBefore = healthy.Requests;
            for (var i = 0; i < 10; i++)
            {
                using var response = await client.GetAsync($"{url}/items/{i}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal($"ok-1 GET /items/{i}\n", await response.Content.ReadAsStringAsync());
            }
            var resetGets = resetter.Requests - resetBefore;
            output.WriteLine($"GETs the resetting backend read and reset before ok-1 answered them: {resetGets} of 10");
            Assert.True(resetGets >= 3, $"only {resetGets} GETs reached the resetting backend");
            Assert.Equal(healthyBefore + 10, healthy.Requests);

            // A POST the resetting backend read may have been acted on: it comes back 502, never sent again.
            var resetPosts = 0;
            for (var i = 0; i < 6; i++)
            {
                resetBefore = resetter.Requests;
                healthyBefore = healthy.Requests;
                using var response = await client.PostAsync($"{url}/orders", new ByteArrayContent([]));
                if (resetter.Requests > resetBefore)
                {
                    Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
                    Assert.Equal(healthyBefore, healthy.Requests);
                    resetPosts++;
                }
                else
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }
            Assert.True(resetPosts >= 2, $"only {resetPosts} POSTs reached the resetting backend");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task PostThatReachedABackend_IsNotRetried_PutThatFailedToConnect_IsRetriedWithItsBody_ConnectTimeoutIs504()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var resetter = ResettingBackend.Start();
        await using var healthy = await ControlledBackend.StartAsync("ok-1");
        await using var alsoHealthy = await ControlledBackend.StartAsync("ok-2");
        using var blackHole = SynBlackHole.Start();
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var closed = Ports.Refusing();
            var resetPort = Ports.Free();
            var refusedPort = Ports.Free();
            var timeoutPort = Ports.Free();
            await cluster.StartAgentAsync("edge", "edge-1");
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("resets", extra: "  retries: 2"),
                Yaml.Backend("reset-1", "resets", resetter.Port),
                Yaml.Backend("ok-1", "resets", healthy.Port),
                Yaml.Pool("refuses", extra: "  retries: 1"),
                Yaml.Backend("closed-1", "refuses", closed.Port),
                Yaml.Backend("ok-2", "refuses", alsoHealthy.Port),
                Yaml.Pool("blackhole", extra: "  retries: 0\n  connectTimeout: 300ms"),
                Yaml.Backend("hole-1", "blackhole", blackHole.Port),
                Yaml.HttpListener("resets", "edge", resetPort, "resets"),
                Yaml.HttpListener("refuses", "edge", refusedPort, "refuses"),
                Yaml.HttpListener("blackhole", "edge", timeoutPort, "blackhole")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            // A GET is idempotent: whichever backend comes first, it ends on the healthy one.
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{resetPort}/") == "ok-1", Propagation, "the resets listener", cluster.Diagnostics);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{refusedPort}/") == "ok-2", Propagation, "the refuses listener", cluster.Diagnostics);

            // (a) Round-robin alternates, so within a few POSTs one goes to the resetting backend
            // first: it must come back 502 without the healthy backend ever seeing it.
            var reset502 = 0;
            for (var i = 0; i < 6; i++)
            {
                var healthyBefore = healthy.Requests;
                var resetBefore = resetter.Requests;
                using var response = await client.PostAsync($"http://127.0.0.1:{resetPort}/orders", new ByteArrayContent([]));
                if (resetter.Requests > resetBefore)
                {
                    Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
                    Assert.Equal(healthyBefore, healthy.Requests);
                    reset502++;
                }
                else
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }
            output.WriteLine($"POSTs that reached the resetting backend: {reset502}, none retried");
            Assert.True(reset502 >= 2, $"only {reset502} POSTs reached the resetting backend");

            // (b) The closed port refuses: every PUT that picked it first is retried on ok-2 with
            // its body unread, so all of them succeed and the echo is byte for byte the body.
            var body = new byte[64 * 1024];
            Random.Shared.NextBytes(body);
            var servedBefore = alsoHealthy.Requests;
            for (var i = 0; i < 6; i++)
            {
                using var response = await client.PutAsync($"http://127.0.0.1:{refusedPort}/echo", new ByteArrayContent(body));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("ok-2", response.Headers.GetValues("X-Backend").Single());
                Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
            }
            Assert.Equal(servedBefore + 6, alsoHealthy.Requests);

            // (c) A port whose SYNs are dropped: connectTimeout (300 ms) passes, the agent answers 504.
            var watch = Stopwatch.StartNew();
            using var timedOut = await client.GetAsync($"http://127.0.0.1:{timeoutPort}/");
            output.WriteLine($"connect timeout answered {(int)timedOut.StatusCode} after {watch.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
            Assert.InRange(watch.Elapsed.TotalSeconds, 0.25, 5);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
