using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.Testing;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Tcp;

/// <summary>Issue 7 end to end: the data tier in front of two real PostgreSQL servers, and raw TCP integrity.</summary>
public sealed class TcpTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Postgres_ThroughDataAgent_SplitsLongSessions_SurvivesAKill_AndDrainsGently()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var primary = await PostgresServer.StartAsync(cluster.Root, "a");
        await using var replica = await PostgresServer.StartAsync(cluster.Root, "b");
        var onA = new List<PsqlSession>();
        var onB = new List<PsqlSession>();
        var portA = primary.Port.ToString(CultureInfo.InvariantCulture);
        var portB = replica.Port.ToString(CultureInfo.InvariantCulture);
        try
        {
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            var apply = await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: orders-db}
                spec:
                  protocol: tcp
                  algorithm: least-connections
                  healthCheck: {type: tcp, interval: 1s, timeout: 900ms, healthyThreshold: 2, unhealthyThreshold: 3}
                  drainTimeout: 60s
                  retries: 2
                ---
                {{Yaml.Backend("db-a", "orders-db", primary.Port)}}
                {{Yaml.Backend("db-b", "orders-db", replica.Port)}}
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: orders-db}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: orders-db}
                """);
            Assert.True(apply.ExitCode == 0, apply.ToString());
            await Wait.UntilAsync(async () => (await PostgresServer.PsqlAsync(port, "select 1")).Stdout == "1", Propagation, "psql through the agent", cluster.Diagnostics);

            // psql works as soon as the agent fails open over two unchecked servers. Until both
            // have passed a check, one may be healthy while the other is still unknown (or
            // unhealthy: one failed first probe decides, and a probe can time out on a busy
            // machine), and every connection goes to the first: how a 17/3 split came about.
            await Wait.UntilAsync(
                async () => await AgentGaugeAsync(cluster, agent, "lb_agent_backend_healthy", "db-a") == 1
                    && await AgentGaugeAsync(cluster, agent, "lb_agent_backend_healthy", "db-b") == 1,
                Propagation,
                "both servers to pass their health check",
                cluster.Diagnostics);
            // The readiness probes' connections must have left the count the first picks compare.
            await WaitForAgentInFlightAsync(cluster, agent, "db-a", 0);
            await WaitForAgentInFlightAsync(cluster, agent, "db-b", 0);

            // 20 long-lived sessions, each established (so counted by the agent, which counts from
            // the pick) before the next is opened: least-connections must split them exactly.
            for (var i = 0; i < 20; i++)
            {
                var (session, server) = await PsqlSession.OpenAsync(port, "select inet_server_port()");
                (server == portA ? onA : onB).Add(session);
            }
            output.WriteLine($"sessions per server: db-a={onA.Count}, db-b={onB.Count}");
            Assert.Equal(10, onA.Count);
            Assert.Equal(10, onB.Count);

            // lbctl shows the open connections per backend (from the agent's periodic summary).
            CommandResult? table = null;
            await Wait.UntilAsync(
                async () =>
                {
                    table = await cluster.LbctlAsync("get", "backends");
                    return InFlightColumn(table.Stdout, "db-a") == 10 && InFlightColumn(table.Stdout, "db-b") == 10;
                },
                TimeSpan.FromSeconds(20),
                "lbctl get backends to show 10 connections on each server",
                () => table?.ToString() ?? "");
            output.WriteLine(table!.Stdout);

            // Least-connections counts open connections, not turns: with 4 of db-a's sessions
            // closed, the next 4 all go to db-a (round-robin would alternate).
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal(0, await onA[^1].CloseAsync());
                await onA[^1].DisposeAsync();
                onA.RemoveAt(onA.Count - 1);
            }
            await WaitForAgentInFlightAsync(cluster, agent, "db-a", 6);
            for (var i = 0; i < 4; i++)
            {
                var (session, server) = await PsqlSession.OpenAsync(port, "select inet_server_port()");
                (server == portA ? onA : onB).Add(session);
            }
            Assert.Equal(10, onA.Count);
            Assert.Equal(10, onB.Count);

            // Drain db-a with its 10 sessions open: new sessions go to db-b, the open ones keep
            // working, and the count the control plane shows goes down as they close.
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "drain", "db-a")).ExitCode);
            await Wait.UntilAsync(
                async () => (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout == portB
                    && (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout == portB,
                Propagation,
                "new sessions to avoid the draining server");
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal(portB, (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout);
            }
            foreach (var session in onA)
            {
                Assert.Equal(portA, await session.QueryAsync("select inet_server_port()"));
            }
            await WaitForInFlightAsync(cluster, "db-a", 10);
            for (var closing = 0; closing < 2; closing++)
            {
                foreach (var session in onA.Take(5).ToList())
                {
                    Assert.Equal(0, await session.CloseAsync());
                    await session.DisposeAsync();
                    onA.Remove(session);
                }
                await WaitForInFlightAsync(cluster, "db-a", onA.Count);
                output.WriteLine($"draining db-a: {onA.Count} sessions left, shown as such");
            }
            var row = (await cluster.LbctlAsync("get", "backends")).Stdout.Split('\n').Single(l => l.StartsWith("db-a ", StringComparison.Ordinal));
            Assert.Contains("draining", row, StringComparison.Ordinal);
            Assert.Equal(0, InFlightColumn(row, "db-a"));

            Assert.Equal(0, (await cluster.LbctlAsync("backend", "enable", "db-a")).ExitCode);
            await Wait.UntilAsync(
                async () => (await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresServer.PsqlAsync(port, "select inet_server_port()")))).Any(a => a.Stdout == portA),
                Propagation,
                "db-a to take sessions again");
            foreach (var session in onB)
            {
                Assert.Equal(portB, await session.QueryAsync("select inet_server_port()"));
                Assert.Equal(0, await session.CloseAsync());
            }

            // Kill one server: new connections keep working on the other, none fails. Wait until
            // it is gone (a dying postmaster may still accept and then drop a connection).
            await replica.Process.DisposeAsync();
            await Wait.UntilAsync(async () => (await PostgresServer.PsqlAsync(replica.Port, "select 1")).ExitCode != 0, Propagation, "the killed server's port to close");
            var failed = 0;
            for (var i = 0; i < 20; i++)
            {
                var result = await PostgresServer.PsqlAsync(port, "select inet_server_port()");
                if (result.ExitCode != 0)
                {
                    failed++;
                    output.WriteLine("failed: " + result);
                    continue;
                }
                Assert.Equal(portA, result.Stdout);
            }
            output.WriteLine($"connections after the kill: 20 sent, {failed} failed");
            Assert.Equal(0, failed);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var session in onA.Concat(onB))
            {
                await session.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// What a user does: apply a pool and connect at once, without waiting for health checks,
    /// here at the moment one server has a first health result and the other not yet. db-b is
    /// reached through a front whose accept queue starts full, so the agent's first probe of it
    /// (a tcp connect) gets in only at a SYN retransmission, a second or more after db-a's
    /// passed. Before pool warming, least-connections sent every session opened meanwhile to
    /// db-a (the one healthy server), the first two included; the agent now holds a new pool's
    /// connections until every server has a first result (bounded), so they split from the start.
    /// </summary>
    [Fact]
    public async Task Postgres_SessionsOpenedBeforeTheSecondServersFirstProbeResult_SpreadOverBothServers()
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var primary = await PostgresServer.StartAsync(cluster.Root, "a");
        await using var replica = await PostgresServer.StartAsync(cluster.Root, "b");
        using var front = SynBlackHole.Start();
        var sessions = new List<(PsqlSession Session, string Server)>();
        var portA = primary.Port.ToString(CultureInfo.InvariantCulture);
        var portB = replica.Port.ToString(CultureInfo.InvariantCulture);
        LoopbackRelay? relay = null;
        try
        {
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            // The timeout outlasts the probe's SYN retransmissions until the test opens the front
            // (a second, or three with exponential backoff); warming's bound (500 ms first-probe
            // window + timeout + 250 ms = 4.75 s) outlasts them too.
            var apply = await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: orders-db}
                spec:
                  protocol: tcp
                  algorithm: least-connections
                  healthCheck: {type: tcp, interval: 5s, timeout: 4s, healthyThreshold: 2, unhealthyThreshold: 3}
                ---
                {{Yaml.Backend("db-a", "orders-db", primary.Port)}}
                {{Yaml.Backend("db-b", "orders-db", front.Port)}}
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: orders-db}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: orders-db}
                """);
            Assert.True(apply.ExitCode == 0, apply.ToString());

            // db-a has passed, and db-b's first probe has had its SYN dropped and retransmitted
            // once: it is still without a result, and stays so until the next retransmission.
            await Wait.UntilAsync(
                async () => front.WaitingConnects().Any(retransmitted => retransmitted >= 1)
                    && await AgentGaugeAsync(cluster, agent, "lb_agent_backend_healthy", "db-a") == 1,
                Propagation,
                "db-a's first probe to pass while db-b's waits on a SYN retransmission",
                cluster.Diagnostics);
            Assert.Equal<double?>(-1, await AgentGaugeAsync(cluster, agent, "lb_agent_backend_healthy", "db-b"));
            relay = LoopbackRelay.Start(front.Open(), replica.Port);

            // At once, as a user does: the first session is retried only until the agent listens
            // (a refused connection reaches no backend), then nine more, each established before
            // the next, as an application's pool opens them.
            var deadline = DateTime.UtcNow + Propagation;
            var held = Stopwatch.StartNew();
            while (sessions.Count == 0)
            {
                try
                {
                    sessions.Add(await PsqlSession.OpenAsync(port, "select inet_server_port()"));
                }
                catch (InvalidOperationException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }
            }
            output.WriteLine($"first session established {held.ElapsedMilliseconds} ms after the front opened");
            while (sessions.Count < 10)
            {
                sessions.Add(await PsqlSession.OpenAsync(port, "select inet_server_port()"));
            }
            var order = string.Join(" ", sessions.Select(s => s.Server == portA ? "a" : s.Server == portB ? "b" : s.Server));
            output.WriteLine($"servers in the order the sessions were opened: {order}");
            Assert.True(sessions[0].Server != sessions[1].Server, $"the first two sessions went to one server: {order}");
            // Least-connections over two servers that both answer splits them exactly.
            Assert.Equal(5, sessions.Count(s => s.Server == portA));
            Assert.Equal(5, sessions.Count(s => s.Server == portB));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var (session, _) in sessions)
            {
                await session.DisposeAsync();
            }
            if (relay is not null)
            {
                await relay.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task LargeTransfers_ArriveIntact_BothWays_AndShortConnectionsDoNotLeak()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var echoPort = Ports.Free();
            cluster.Track(ManagedProcess.Start("echo", Binaries.SampleBackend, ["--name", "echo", "--port", echoPort.ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: echo}
                spec: {protocol: tcp, algorithm: round-robin}
                ---
                {{Yaml.Backend("echo-1", "echo", echoPort)}}
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: echo}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: echo}
                """)).ExitCode);
            await Wait.UntilAsync(async () => await GreetingAsync(port) == "echo", Propagation, "the tcp listener", cluster.Diagnostics);

            // 100 MB up and the same 100 MB back down, compared by SHA-256.
            var payload = new byte[100 * 1024 * 1024];
            new Random(7).NextBytes(payload);
            var sent = SHA256.HashData(payload);
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            var stream = client.GetStream();
            var greeting = new byte[5];
            await stream.ReadExactlyAsync(greeting);
            var watch = Stopwatch.StartNew();
            var writing = Task.Run(async () =>
            {
                await stream.WriteAsync(payload);
                // Half-close: the echo service sees the end and finishes echoing.
                client.Client.Shutdown(SocketShutdown.Send);
            });
            using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[81920];
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                received.AppendData(buffer, 0, read);
                total += read;
            }
            await writing;
            output.WriteLine($"100 MB each way in {watch.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(payload.Length, total);
            Assert.Equal(sent, received.GetHashAndReset());

            // Many short connections leave no sockets and no memory behind in the agent. A warm-up
            // batch first, so that pools, JIT and the GC's budgets are settled before the baseline.
            for (var i = 0; i < 1500; i++)
            {
                Assert.Equal("echo", await GreetingAsync(port));
            }
            var descriptorsBefore = OpenDescriptors(agent.Process.Id);
            var rssBefore = ResidentKilobytes(agent.Process.Id);
            const int Batch = 3000;
            for (var i = 0; i < Batch; i++)
            {
                Assert.Equal("echo", await GreetingAsync(port));
            }
            await Wait.UntilAsync(() => OpenDescriptors(agent.Process.Id) <= descriptorsBefore + 20, TimeSpan.FromSeconds(20), $"the agent's descriptors to return near {descriptorsBefore}", () => $"now {OpenDescriptors(agent.Process.Id)}");
            var rssAfter = ResidentKilobytes(agent.Process.Id);
            var growth = rssAfter - rssBefore;
            output.WriteLine($"agent after {Batch} more short connections: descriptors {descriptorsBefore} -> {OpenDescriptors(agent.Process.Id)}, RSS {rssBefore / 1024.0:0.0} MB -> {rssAfter / 1024.0:0.0} MB ({growth / (double)Batch:0.00} KB per connection)");
            // Generous for GC noise; 10 KB or more kept per connection would exceed it.
            Assert.True(growth < 30 * 1024, $"the agent's RSS grew by {growth / 1024.0:0.0} MB over {Batch} short connections");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task IdleTimeout_ClosesSilentConnections_KeepsBusyOnes_AndMaxConnectionsRefusesTheExtra()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var echoPort = Ports.Free();
            cluster.Track(ManagedProcess.Start("echo", Binaries.SampleBackend, ["--name", "echo", "--port", echoPort.ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: idle}
                spec: {protocol: tcp, algorithm: round-robin, idleTimeout: 1s, maxConnectionsPerBackend: 2, retries: 0}
                ---
                {{Yaml.Backend("echo-1", "idle", echoPort)}}
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: idle}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: idle}
                """)).ExitCode);
            await Wait.UntilAsync(async () => await GreetingAsync(port) == "echo", Propagation, "the tcp listener", cluster.Diagnostics);
            // The probe connections above must be gone from the agent's count before the limit is tested.
            await Wait.UntilAsync(
                async () => (await cluster.Http.GetStringAsync(agent.AdminUrl + "/metrics")).Contains("lb_agent_backend_in_flight{pool=\"idle\",backend=\"echo-1\"} 0", StringComparison.Ordinal),
                Propagation,
                "no connection in flight");

            // From before the silent connection exists: it cannot have been idle longer than this.
            var sinceOpened = Stopwatch.StartNew();
            using var silent = new TcpClient();
            await silent.ConnectAsync("127.0.0.1", port);
            using var busy = new TcpClient();
            await busy.ConnectAsync("127.0.0.1", port);
            var silentStream = silent.GetStream();
            var busyStream = busy.GetStream();
            var greeting = new byte[5];
            await silentStream.ReadExactlyAsync(greeting);
            await busyStream.ReadExactlyAsync(greeting);

            // Both allowed connections are open: a third is closed without a greeting.
            Assert.Equal("", await GreetingAsync(port));

            // The busy connection echoes every 250 ms until the agent closes the silent one...
            var idleTimeout = TimeSpan.FromSeconds(1);
            var silentRead = silentStream.ReadAsync(new byte[1]).AsTask();
            while (!silentRead.IsCompleted)
            {
                Assert.True(sinceOpened.Elapsed < Propagation, "the silent connection was not closed after idleTimeout");
                await EchoAsync(busyStream);
                await Task.WhenAny(silentRead, Task.Delay(250));
            }
            var silentClosedAfter = sinceOpened.Elapsed;
            try
            {
                Assert.Equal(0, await silentRead);
            }
            catch (IOException)
            {
                // Closed with a reset rather than a FIN: closed all the same.
            }
            Assert.True(silentClosedAfter >= idleTimeout, $"the silent connection was closed {silentClosedAfter.TotalMilliseconds:0} ms after it opened, before idleTimeout");

            // ...and for as long again past that, plus one check period (idleTimeout / 4): had its
            // traffic not counted, the busy one (opened just after) would have been closed by then.
            var keepUntil = sinceOpened.Elapsed + idleTimeout + (idleTimeout / 4);
            while (sinceOpened.Elapsed < keepUntil)
            {
                await EchoAsync(busyStream);
                await Task.Delay(250);
            }
            output.WriteLine($"silent connection closed {silentClosedAfter.TotalMilliseconds:0} ms after it opened; busy one still open after {sinceOpened.Elapsed.TotalMilliseconds:0} ms");

            await busyStream.WriteAsync("last\n"u8.ToArray());
            var last = new byte[5];
            await busyStream.ReadExactlyAsync(last);
            Assert.Equal("last\n", System.Text.Encoding.ASCII.GetString(last));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task SourceIpPersistence_KeepsEachClientAddressOnOneBackend_AcrossConnectionsAndAgents()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var names = new[] { "t-1", "t-2", "t-3" };
            var docs = new List<string> { Yaml.Pool("sticky", "round-robin", "tcp", "  sessionPersistence: {type: source-ip}") };
            foreach (var name in names)
            {
                var backendPort = Ports.Free();
                cluster.Track(ManagedProcess.Start(name, Binaries.SampleBackend, ["--name", name, "--port", backendPort.ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
                docs.Add(Yaml.Backend(name, "sticky", backendPort));
            }
            var agents = new[] { IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2") };
            await cluster.StartAgentAsync("data", "data-a", bind: "127.0.0.1");
            await cluster.StartAgentAsync("data", "data-b", bind: "127.0.0.2");
            var port = Ports.Free();
            docs.Add($$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: sticky}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: sticky}
                """);
            var apply = await cluster.ApplyAsync(Yaml.Join([.. docs]));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            // Both agents apply the listener and its three backends in one snapshot.
            foreach (var agent in agents)
            {
                await Wait.UntilAsync(async () => Array.IndexOf(names, await GreetingAsync(agent, port, from: null)) >= 0, Propagation, $"the tcp listener on {agent}", cluster.Diagnostics);
            }

            // Round-robin alone would rotate a client's connections over the three backends:
            // persistence keeps each client address on one, whichever agent it connects through.
            // 127.0.0.1 and 127.0.0.3 to .18 are all local, so the client can bind any of them.
            var clients = new[] { IPAddress.Parse("127.0.0.1") }.Concat(Enumerable.Range(3, 16).Select(i => IPAddress.Parse($"127.0.0.{i}"))).ToList();
            var placement = new Dictionary<IPAddress, string>();
            foreach (var client in clients)
            {
                var first = await GreetingAsync(agents[0], port, client);
                Assert.Contains(first, names);
                for (var i = 0; i < 6; i++)
                {
                    Assert.Equal(first, await GreetingAsync(agents[i % 2], port, client));
                }
                placement[client] = first;
            }
            output.WriteLine(string.Join(", ", placement.Select(p => $"{p.Key}->{p.Value}")));
            // The hash is of the address, not one answer for everyone: 17 addresses over three backends.
            Assert.True(placement.Values.Distinct().Count() > 1, "different client addresses spread over the backends");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task EchoAsync(NetworkStream stream)
    {
        await stream.WriteAsync("ping\n"u8.ToArray());
        var echoed = new byte[5];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await stream.ReadExactlyAsync(echoed, timeout.Token);
        Assert.Equal("ping\n", System.Text.Encoding.ASCII.GetString(echoed));
    }

    private static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    /// <summary>The process's resident set (VmRSS), in KB.</summary>
    private static long ResidentKilobytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>The IN-FLIGHT column of a backend's row in `lbctl get backends` (-1 when there is no row).</summary>
    private static int InFlightColumn(string table, string backend)
    {
        var row = table.Split('\n').FirstOrDefault(l => l.StartsWith(backend + " ", StringComparison.Ordinal));
        // AGE is the last column and never holds a space; IN-FLIGHT comes just before it.
        return row is null ? -1 : int.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^2], CultureInfo.InvariantCulture);
    }

    /// <summary>A gauge of one orders-db backend as the agent exposes it (null when absent).</summary>
    private static async Task<double?> AgentGaugeAsync(TestCluster cluster, AgentHandle agent, string metric, string backend)
    {
        var prefix = $"{metric}{{pool=\"orders-db\",backend=\"{backend}\"";
        var values = await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl);
        return values.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(kv => (double?)kv.Value).FirstOrDefault();
    }

    private static Task WaitForAgentInFlightAsync(TestCluster cluster, AgentHandle agent, string backend, int expected) =>
        Wait.UntilAsync(
            async () => await AgentGaugeAsync(cluster, agent, "lb_agent_backend_in_flight", backend) == expected,
            Propagation,
            $"{expected} connections in flight to {backend} on the agent");

    /// <summary>Waits for the control plane's count (draining backends are refreshed every second).</summary>
    private static async Task WaitForInFlightAsync(TestCluster cluster, string backend, long expected)
    {
        long last = -1;
        await Wait.UntilAsync(
            async () => (last = (await cluster.Management.GetBackendAsync(new GetRequest { Name = backend })).Status.InFlight) == expected,
            TimeSpan.FromSeconds(10),
            $"the control plane to show {expected} connections in flight to {backend}",
            () => $"last seen {last}");
    }

    private static Task<string> GreetingAsync(int port) => GreetingAsync(IPAddress.Loopback, port, from: null);

    /// <summary>Connects (from <paramref name="from"/> when given) and returns the backend's greeting line.</summary>
    private static async Task<string> GreetingAsync(IPAddress agent, int port, IPAddress? from)
    {
        using var client = new TcpClient(AddressFamily.InterNetwork);
        if (from is not null)
        {
            // The client's source address is what source-ip persistence hashes.
            client.Client.Bind(new IPEndPoint(from, 0));
        }
        await client.ConnectAsync(agent, port);
        using var reader = new StreamReader(client.GetStream());
        try
        {
            return (await reader.ReadLineAsync())?.Trim() ?? "";
        }
        catch (IOException)
        {
            // Closed (or reset) by the agent before any greeting.
            return "";
        }
    }
}
