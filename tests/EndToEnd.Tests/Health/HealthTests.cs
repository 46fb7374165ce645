using System.Diagnostics;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Health;

/// <summary>
/// Issue 4 end to end: active and passive health, retries and draining under load, and what
/// the control plane shows of each agent's view.
/// </summary>
public sealed class HealthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);
    private const string Check = "  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 800ms, healthyThreshold: 2, unhealthyThreshold: 2}\n  retries: 1";

    [Fact]
    public async Task KilledBackend_UnderLoad_NoFailedRequests_TakenOutInTime_AndBackAfterRecovery()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("k-1"), await cluster.StartBackendAsync("k-2"), await cluster.StartBackendAsync("k-3") };
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("steady", extra: Check),
                Yaml.Backend("k-1", "steady", backends[0].Port),
                Yaml.Backend("k-2", "steady", backends[1].Port),
                Yaml.Backend("k-3", "steady", backends[2].Port),
                Yaml.HttpListener("steady", "edge", port, "steady")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var url = $"http://127.0.0.1:{port}/work";
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 6)).Count == 3, Propagation, "all three backends to serve", cluster.Diagnostics);
            await WaitForHealthAsync(cluster, "k-1", "healthy");

            using var load = new LoadLoop(url);
            await Wait.UntilAsync(() => load.Sent > 50, Propagation, "load to start");

            // The agent stops picking a backend the moment its own health view turns unhealthy:
            // the gauge of that view is when the killed backend stops getting traffic.
            var gauge = "lb_agent_backend_healthy{pool=\"steady\",backend=\"k-1\",check=\"http\"}";
            var killedAt = Stopwatch.StartNew();
            await backends[0].Process.DisposeAsync();
            await Wait.UntilAsync(async () => (await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl)).GetValueOrDefault(gauge, -5) == 0, Propagation, "the agent to take k-1 out", cluster.Diagnostics);
            var takenOut = killedAt.Elapsed;
            // interval x unhealthyThreshold + timeout (a refused connect fails at once, so this is
            // generous), plus one jittered interval for where the kill fell between probes.
            output.WriteLine($"killed backend taken out of rotation after {takenOut.TotalMilliseconds:0} ms (bound {1.0 * 2 + 0.8 + 1.1:0.0} s)");
            Assert.True(takenOut < TimeSpan.FromSeconds(1.0 * 2 + 0.8 + 1.1), $"took {takenOut}");
            await WaitForHealthAsync(cluster, "k-1", "unhealthy");

            // Back: it takes traffic only after healthyThreshold (2) passes, one interval apart.
            var restartedAt = DateTime.UtcNow;
            await cluster.StartBackendOnAsync("k-1", backends[0].Port);
            await Wait.UntilAsync(() => load.SeenSince("k-1", TimeSpan.FromMilliseconds(200)), Propagation, "the recovered backend to take traffic again", cluster.Diagnostics);
            var back = load.FirstSeenSince("k-1", restartedAt)!.Value - restartedAt;
            output.WriteLine($"recovered backend took traffic again {back.TotalMilliseconds:0} ms after it was started");
            Assert.True(back >= TimeSpan.FromSeconds(0.9 * 1), $"took traffic {back} after restart, before two passes an interval apart could have happened");
            var (sent, failed) = await load.StopAsync();
            output.WriteLine($"requests sent {sent}, failed {failed}");
            Assert.True(sent > 100, $"only {sent} requests were sent");
            Assert.Equal(0, failed);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Backends_Answering503OrTooSlowly_AreTakenOut_AndReasonsShowPerAgent_AndStoppedAgentGoesStale()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("h-1"), await cluster.StartBackendAsync("h-2"), await cluster.StartBackendAsync("h-3") };
            var agentA = await cluster.StartAgentAsync("internal", "int-a", bind: "127.0.0.1");
            await cluster.StartAgentAsync("internal", "int-b", bind: "127.0.0.2");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("checked", extra: Check),
                Yaml.Backend("h-1", "checked", backends[0].Port),
                Yaml.Backend("h-2", "checked", backends[1].Port),
                Yaml.Backend("h-3", "checked", backends[2].Port),
                Yaml.HttpListener("checked", "internal", port, "checked")))).ExitCode);
            await WaitForHealthAsync(cluster, "h-1", "healthy", agents: 2);

            await cluster.Http.PostAsync($"http://127.0.0.1:{backends[0].Port}/admin/health/down", null);
            await cluster.Http.PostAsync($"http://127.0.0.1:{backends[1].Port}/admin/health/slow", null);
            var down = await WaitForHealthAsync(cluster, "h-1", "unhealthy", agents: 2);
            Assert.All(down.Status.Agents, a => Assert.Equal("status 503", a.Reason));
            var slow = await WaitForHealthAsync(cluster, "h-2", "unhealthy", agents: 2);
            Assert.All(slow.Status.Agents, a => Assert.Equal("timeout", a.Reason));

            // Take the last one out too: the pool fails open, and its status says so.
            await cluster.Http.PostAsync($"http://127.0.0.1:{backends[2].Port}/admin/health/down", null);
            await WaitForHealthAsync(cluster, "h-3", "unhealthy", agents: 2);
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetPoolAsync(new GetRequest { Name = "checked" })).Status.Conditions.Any(c => c.Type == "FailingOpen" && c.Status == "True"),
                Propagation,
                "the pool's FailingOpen condition");
            Assert.True((await cluster.CountBackendsAsync($"http://127.0.0.1:{port}/", 6)).Keys.All(k => k != "(failed)"), "fail open keeps serving");
            await cluster.Http.PostAsync($"http://127.0.0.1:{backends[2].Port}/admin/health/up", null);
            await WaitForHealthAsync(cluster, "h-3", "healthy", agents: 2);

            // Only the healthy backend gets traffic, through both agents.
            foreach (var agentAddress in new[] { "127.0.0.1", "127.0.0.2" })
            {
                var counts = await cluster.CountBackendsAsync($"http://{agentAddress}:{port}/", 12);
                Assert.Equal(["h-3"], counts.Keys.ToArray());
            }

            var table = await cluster.LbctlAsync("get", "backends");
            Assert.Contains("healthy 2/2", table.Stdout, StringComparison.Ordinal);
            Assert.Contains("unhealthy 0/2", table.Stdout, StringComparison.Ordinal);
            var describe = await cluster.LbctlAsync("describe", "backend", "h-1");
            Assert.Contains("int-a", describe.Stdout, StringComparison.Ordinal);
            Assert.Contains("status 503", describe.Stdout, StringComparison.Ordinal);

            // Stopping one agent leaves its view in place, marked stale and out of the aggregate.
            Assert.True(await agentA.Process.TerminateAsync(TimeSpan.FromSeconds(20)), "agent exits on SIGTERM");
            await Wait.UntilAsync(
                async () =>
                {
                    var backend = await cluster.Management.GetBackendAsync(new GetRequest { Name = "h-3" });
                    return backend.Status.Agents.Any(a => a.Agent == "int-a" && a.Stale) && backend.Status.ReportingAgents == 1;
                },
                Propagation,
                "the stopped agent's view to go stale",
                cluster.Diagnostics);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Drain_UnderLoad_NoFailures_NoNewRequests_InFlightLongRequestsComplete()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("d-1"), await cluster.StartBackendAsync("d-2") };
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("drainable", extra: "  drainTimeout: 30s"),
                Yaml.Backend("d-1", "drainable", backends[0].Port),
                Yaml.Backend("d-2", "drainable", backends[1].Port),
                Yaml.HttpListener("drainable", "edge", port, "drainable")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 4)).Count == 2, Propagation, "both backends to serve", cluster.Diagnostics);

            // Long requests on both backends, then drain d-1 while they are in flight.
            using var slowClient = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var slow = Enumerable.Range(0, 4).Select(_ => slowClient.GetAsync($"http://127.0.0.1:{port}/slow/6000")).ToList();
            using var load = new LoadLoop(url);
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "drain", "d-1")).ExitCode);
            // The control plane shows the drain's in-flight requests while they run.
            await Wait.UntilAsync(async () => (await InFlightAsync(cluster, "d-1")) > 0, TimeSpan.FromSeconds(5), "d-1's in-flight requests to show while it drains", cluster.Diagnostics);
            await Wait.UntilAsync(() => load.LastSeen("d-1") is { } last && DateTime.UtcNow - last > TimeSpan.FromMilliseconds(500), Propagation, "d-1 to stop getting new requests", cluster.Diagnostics);
            var drainedAt = DateTime.UtcNow;

            var responses = await Task.WhenAll(slow);
            var servedBy = responses.Select(r => r.Headers.GetValues("X-Backend").First()).ToList();
            Assert.All(responses, r => Assert.True(r.IsSuccessStatusCode));
            Assert.Contains("d-1", servedBy);

            await Wait.UntilAsync(() => load.Sent > 50, Propagation, "more load after the drain");
            var (sent, failed) = await load.StopAsync();
            Assert.True(load.LastSeen("d-1") is null || load.LastSeen("d-1") < drainedAt, "no new request reached the drained backend");
            output.WriteLine($"requests sent {sent}, failed {failed}; long requests served by {string.Join(",", servedBy)}");
            Assert.Equal(0, failed);

            // Once the long requests are done the count reaches 0 within a refresh, not a summary period.
            await Wait.UntilAsync(async () => (await InFlightAsync(cluster, "d-1")) == 0, TimeSpan.FromSeconds(5), "d-1's in-flight count to reach 0", cluster.Diagnostics);
            var table = await cluster.LbctlAsync("get", "backends");
            var row = table.Stdout.Split('\n').Single(l => l.StartsWith("d-1 ", StringComparison.Ordinal));
            Assert.Contains("draining", row, StringComparison.Ordinal);
            Assert.Matches(@"\s0\s+\S+\s*$", row);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<long> InFlightAsync(TestCluster cluster, string backend) =>
        (await cluster.Management.GetBackendAsync(new GetRequest { Name = backend })).Status.InFlight;

    private static async Task<Backend> WaitForHealthAsync(TestCluster cluster, string backend, string state, int agents = 1)
    {
        Backend? last = null;
        await Wait.UntilAsync(
            async () =>
            {
                last = await cluster.Management.GetBackendAsync(new GetRequest { Name = backend });
                var current = last.Status.Agents.Where(a => !a.Stale).ToList();
                return current.Count == agents && current.All(a => a.State == state);
            },
            Propagation,
            $"{backend} to be {state} on {agents} agent(s)",
            () => last?.ToString() + "\n" + cluster.Diagnostics());
        return last!;
    }

    /// <summary>Sequential GETs from a few workers until stopped; counts failures and who answered when.</summary>
    private sealed class LoadLoop : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private readonly HttpClient _client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMilliseconds(200) }) { Timeout = TimeSpan.FromSeconds(10) };
        private readonly Dictionary<string, DateTime> _lastSeen = [];
        private readonly List<(string Backend, DateTime At)> _answers = [];
        private int _sent;
        private int _failed;

        public LoadLoop(string url, int workers = 4)
        {
            _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(() => RunAsync(url))).ToArray();
        }

        public int Sent => Volatile.Read(ref _sent);

        public DateTime? LastSeen(string backend)
        {
            lock (_lastSeen)
            {
                return _lastSeen.TryGetValue(backend, out var at) ? at : null;
            }
        }

        public DateTime? FirstSeenSince(string backend, DateTime since)
        {
            lock (_lastSeen)
            {
                return _answers.Where(a => a.Backend == backend && a.At >= since).Select(a => (DateTime?)a.At).FirstOrDefault();
            }
        }

        public bool SeenSince(string backend, TimeSpan window) => LastSeen(backend) is { } at && DateTime.UtcNow - at < window;

        private async Task RunAsync(string url)
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await _client.GetAsync(url, _stop.Token);
                    Interlocked.Increment(ref _sent);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _failed);
                        continue;
                    }
                    var who = response.Headers.GetValues("X-Backend").First();
                    lock (_lastSeen)
                    {
                        var now = DateTime.UtcNow;
                        _lastSeen[who] = now;
                        _answers.Add((who, now));
                    }
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref _sent);
                    Interlocked.Increment(ref _failed);
                }
            }
        }

        public async Task<(int Sent, int Failed)> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            return (Sent, Volatile.Read(ref _failed));
        }

        public void Dispose()
        {
            _stop.Cancel();
            _client.Dispose();
        }
    }
}
