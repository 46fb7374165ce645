using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.LoadBalancing;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Proxy;

/// <summary>
/// drainTimeout where it bites: a request or connection still open when a drained (or removed)
/// backend's drainTimeout passes is closed by the agent, and not before.
/// </summary>
public sealed class DrainTimeoutTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    // How late after drainTimeout (counted from when the agent was seen to apply the change) the
    // close may come: one 100 ms drain tick, and a busy machine.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Http_RequestStillInFlightAtDrainTimeout_IsClosed_BothToTheClientAndToTheBackend()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var backend = await ControlledBackend.StartAsync("hold-1");
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("held", extra: $"  drainTimeout: {DrainTimeout.TotalSeconds:0}s"),
                Yaml.Backend("hold-1", "held", backend.Port),
                Yaml.HttpListener("held", "edge", port, "held")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "hold-1", Propagation, "the listener", cluster.Diagnostics);

            // A request the backend holds (it would wait for the test for ever) is in flight at the drain.
            var request = client.GetAsync(url + "hold/long");
            await Wait.UntilAsync(() => backend.Held == 1, Propagation, "the backend to hold the request", cluster.Diagnostics);
            var closed = Task.Run(async () => (Failure: await Record.ExceptionAsync(() => request), At: Stopwatch.GetTimestamp()));
            var (started, applied) = await ChangeAsync(cluster, ["backend", "drain", "hold-1"], async () => await AdminStateAsync(cluster, agent, "held", "hold-1") == 1);

            var (failure, at) = await closed;
            output.WriteLine($"in-flight request closed {Since(started, at)} ms after lbctl started, {Since(applied, at)} ms after the agent was seen draining (drainTimeout {DrainTimeout.TotalSeconds:0} s): {failure?.GetType().Name}: {failure?.Message}");
            Assert.IsType<HttpRequestException>(failure);
            Assert.True(Stopwatch.GetElapsedTime(started, at) >= DrainTimeout, "closed before drainTimeout");
            Assert.True(Stopwatch.GetElapsedTime(applied, at) <= DrainTimeout + Slack, "not closed at drainTimeout");
            // The agent also gave up its own request to the backend, which sees it aborted.
            await Wait.UntilAsync(() => backend.Held == 0, TimeSpan.FromSeconds(5), "the backend to see its request aborted");
            await Wait.UntilAsync(() => agent.Process.Output.Contains("Drain of held/hold-1 finished; 1 requests or connections closed at the deadline", StringComparison.Ordinal), TimeSpan.FromSeconds(5), "the agent to log what it closed", cluster.Diagnostics);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Tcp_ConnectionStillOpenAtDrainTimeout_IsClosed_WhenDrainedAndWhenTheBackendIsRemoved()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var names = new[] { "t-1", "t-2" };
            var ports = names.Select(_ => Ports.Free()).ToArray();
            for (var i = 0; i < names.Length; i++)
            {
                cluster.Track(ManagedProcess.Start(names[i], Binaries.SampleBackend, ["--name", names[i], "--port", ports[i].ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
            }
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("echo", protocol: "tcp", extra: $"  drainTimeout: {DrainTimeout.TotalSeconds:0}s"),
                Yaml.Backend("t-1", "echo", ports[0]),
                Yaml.Backend("t-2", "echo", ports[1]),
                $$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: echo}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: echo}
                """))).ExitCode);
            await Wait.UntilAsync(async () => Array.IndexOf(names, await GreetingAsync(port)) >= 0, Propagation, "the tcp listener", cluster.Diagnostics);

            // Drained: the open connection keeps echoing until drainTimeout, then the agent closes it.
            string drainedName;
            using (var drained = await EchoConnection.OpenAsync(port))
            {
                drainedName = drained.Backend;
                var echoing = drained.EchoUntilClosedAsync();
                var (started, applied) = await ChangeAsync(cluster, ["backend", "drain", drainedName], async () => await AdminStateAsync(cluster, agent, "echo", drainedName) == 1);
                var (at, echoes) = await echoing;
                output.WriteLine($"drained {drainedName}: connection closed {Since(started, at)} ms after lbctl started, {Since(applied, at)} ms after the agent was seen draining; {echoes} echoes before");
                Assert.True(Stopwatch.GetElapsedTime(started, at) >= DrainTimeout, "closed before drainTimeout");
                Assert.True(Stopwatch.GetElapsedTime(applied, at) <= DrainTimeout + Slack, "not closed at drainTimeout");
                Assert.True(echoes > 0, "the connection was not usable during the drain");
            }

            // Removed: the same for a connection to a backend deleted from the pool (the other one:
            // new connections avoid the drained backend).
            using var removed = await EchoConnection.OpenAsync(port);
            Assert.NotEqual(drainedName, removed.Backend);
            var removedEchoing = removed.EchoUntilClosedAsync();
            var (removeStarted, removeApplied) = await ChangeAsync(cluster, ["delete", "backend", removed.Backend], async () => await AdminStateAsync(cluster, agent, "echo", removed.Backend) is null);
            var (removedAt, removedEchoes) = await removedEchoing;
            output.WriteLine($"removed {removed.Backend}: connection closed {Since(removeStarted, removedAt)} ms after lbctl started, {Since(removeApplied, removedAt)} ms after the agent was seen without it; {removedEchoes} echoes before");
            Assert.True(Stopwatch.GetElapsedTime(removeStarted, removedAt) >= DrainTimeout, "closed before drainTimeout");
            Assert.True(Stopwatch.GetElapsedTime(removeApplied, removedAt) <= DrainTimeout + Slack, "not closed at drainTimeout");
            Assert.True(removedEchoes > 0, "the connection was not usable after the removal");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>
    /// Runs lbctl and watches the agent until <paramref name="applied"/> holds: when lbctl started
    /// (nothing can have been applied before) and when the agent was seen with the change (it was
    /// applied by then), as Stopwatch timestamps.
    /// </summary>
    private static async Task<(long Started, long Applied)> ChangeAsync(TestCluster cluster, string[] lbctl, Func<Task<bool>> applied)
    {
        var started = Stopwatch.GetTimestamp();
        var run = cluster.LbctlAsync(lbctl);
        await Wait.UntilAsync(applied, Propagation, "the agent to apply lbctl " + string.Join(' ', lbctl), cluster.Diagnostics);
        var seen = Stopwatch.GetTimestamp();
        var result = await run;
        Assert.True(result.ExitCode == 0, result.ToString());
        return (started, seen);
    }

    /// <summary>The agent's admin state of a backend (0 enabled, 1 draining), null when it is not in the pool.</summary>
    private static async Task<double?> AdminStateAsync(TestCluster cluster, AgentHandle agent, string pool, string backend) =>
        (await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl)).TryGetValue($"lb_agent_backend_admin_state{{pool=\"{pool}\",backend=\"{backend}\"}}", out var value) ? value : null;

    private static string Since(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);

    private static async Task<string> GreetingAsync(int port)
    {
        using var connection = await EchoConnection.OpenAsync(port);
        return connection.Backend;
    }

    /// <summary>A connection through the agent to an echo backend, which greets with its name.</summary>
    private sealed class EchoConnection : IDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;

        private EchoConnection(TcpClient client, string backend)
        {
            _client = client;
            _stream = client.GetStream();
            Backend = backend;
        }

        public string Backend { get; }

        public static async Task<EchoConnection> OpenAsync(int port)
        {
            var client = new TcpClient();
            try
            {
                await client.ConnectAsync("127.0.0.1", port);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var line = new List<byte>();
                var one = new byte[1];
                while (await client.GetStream().ReadAsync(one, timeout.Token) == 1 && one[0] != '\n')
                {
                    line.Add(one[0]);
                }
                return new EchoConnection(client, System.Text.Encoding.ASCII.GetString([.. line]));
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Echoes a line every 100 ms until the agent closes the connection (at most a minute):
        /// when that was (a Stopwatch timestamp), and how many echoes came back before.
        /// </summary>
        public async Task<(long ClosedAt, int Echoes)> EchoUntilClosedAsync()
        {
            var echoes = 0;
            var ping = "ping\n"u8.ToArray();
            var echoed = new byte[ping.Length];
            var limit = Stopwatch.StartNew();
            while (limit.Elapsed < TimeSpan.FromMinutes(1))
            {
                try
                {
                    await _stream.WriteAsync(ping);
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    if (await _stream.ReadAtLeastAsync(echoed, echoed.Length, throwOnEndOfStream: false, timeout.Token) < echoed.Length)
                    {
                        return (Stopwatch.GetTimestamp(), echoes);
                    }
                }
                catch (IOException)
                {
                    // Reset rather than closed: closed all the same.
                    return (Stopwatch.GetTimestamp(), echoes);
                }
                echoes++;
                await Task.Delay(100);
            }
            return (Stopwatch.GetTimestamp(), echoes);
        }

        public void Dispose() => _client.Dispose();
    }
}
