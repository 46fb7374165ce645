using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
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
        try
        {
            await cluster.StartAgentAsync("data", "data-1");
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

            // 20 long-lived sessions split 10/10 under least-connections.
            var sessions = Enumerable.Range(0, 20)
                .Select(_ => PostgresServer.PsqlAsync(port, "select inet_server_port(), pg_sleep(4)"))
                .ToList();
            var answers = await Task.WhenAll(sessions);
            Assert.All(answers, a => Assert.True(a.ExitCode == 0, a.ToString()));
            var split = answers.GroupBy(a => a.Stdout.Split('|')[0]).ToDictionary(g => g.Key, g => g.Count());
            output.WriteLine("sessions per server: " + string.Join(", ", split.Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.Equal(2, split.Count);
            Assert.All(split.Values, count => Assert.InRange(count, 9, 11));

            // Drain one: its open session finishes, new sessions go to the other.
            var onA = Enumerable.Range(0, 6).Select(_ => PostgresServer.PsqlAsync(port, "select inet_server_port(), pg_sleep(3)")).ToList();
            await Wait.UntilAsync(async () => int.Parse((await primary.QueryAsync(primary.Port, "select count(*) from pg_stat_activity where query like '%pg_sleep(3)%' and pid <> pg_backend_pid()")).Stdout, CultureInfo.InvariantCulture) > 0, Propagation, "a session on db-a");
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "drain", "db-a")).ExitCode);
            await Wait.UntilAsync(
                async () => (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout == replica.Port.ToString(CultureInfo.InvariantCulture)
                    && (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout == replica.Port.ToString(CultureInfo.InvariantCulture),
                Propagation,
                "new sessions to avoid the draining server");
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal(replica.Port.ToString(CultureInfo.InvariantCulture), (await PostgresServer.PsqlAsync(port, "select inet_server_port()")).Stdout);
            }
            var drained = await Task.WhenAll(onA);
            Assert.All(drained, a => Assert.True(a.ExitCode == 0, "a session open during the drain completes: " + a));
            Assert.Contains(drained, a => a.Stdout.StartsWith(primary.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "enable", "db-a")).ExitCode);
            await Wait.UntilAsync(
                async () => (await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresServer.PsqlAsync(port, "select inet_server_port()")))).Any(a => a.Stdout == primary.Port.ToString(CultureInfo.InvariantCulture)),
                Propagation,
                "db-a to take sessions again");

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
                Assert.Equal(primary.Port.ToString(CultureInfo.InvariantCulture), result.Stdout);
            }
            output.WriteLine($"connections after the kill: 20 sent, {failed} failed");
            Assert.Equal(0, failed);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
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

            // Many short connections leave no sockets behind in the agent.
            var before = OpenDescriptors(agent.Process.Id);
            for (var i = 0; i < 1500; i++)
            {
                Assert.Equal("echo", await GreetingAsync(port));
            }
            await Wait.UntilAsync(() => OpenDescriptors(agent.Process.Id) <= before + 20, TimeSpan.FromSeconds(20), $"the agent's descriptors to return near {before}", () => $"now {OpenDescriptors(agent.Process.Id)}");
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

            var watch = Stopwatch.StartNew();
            var silentRead = silentStream.ReadAsync(new byte[1]).AsTask();
            while (watch.Elapsed < TimeSpan.FromSeconds(2.5))
            {
                await busyStream.WriteAsync("ping\n"u8.ToArray());
                var echoed = new byte[5];
                await busyStream.ReadExactlyAsync(echoed);
                await Task.Delay(250);
            }
            Assert.True(silentRead.IsCompleted, "the silent connection was closed after idleTimeout");
            try
            {
                Assert.Equal(0, await silentRead);
            }
            catch (IOException)
            {
                // Closed with a reset rather than a FIN: closed all the same.
            }
            output.WriteLine("silent connection closed; busy one still open after 2.5 s");

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
    public async Task SourceIpPersistence_SameClientAddress_LandsOnTheSameBackend()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var docs = new List<string>
            {
                Yaml.Pool("sticky-db", protocol: "tcp", extra: "  sessionPersistence: {type: source-ip}"),
            };
            var backendPorts = new List<int>();
            for (var i = 1; i <= 3; i++)
            {
                var backendPort = Ports.Free();
                backendPorts.Add(backendPort);
                cluster.Track(ManagedProcess.Start($"db-{i}", Binaries.SampleBackend, ["--name", $"db-{i}", "--port", backendPort.ToString(CultureInfo.InvariantCulture), "--mode", "tcp"]));
                docs.Add(Yaml.Backend($"db-{i}", "sticky-db", backendPort));
            }
            await cluster.StartAgentAsync("data", "data-1");
            var port = Ports.Free();
            docs.Add($$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: sticky-db}
                spec: {tier: data, port: {{port}}, protocol: tcp, pool: sticky-db}
                """);
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join([.. docs]))).ExitCode);
            // Every backend must be up first, or a connection could be placed around a late one.
            for (var i = 0; i < 3; i++)
            {
                var (name, backendPort) = ($"db-{i + 1}", backendPorts[i]);
                await Wait.UntilAsync(async () => await GreetingAsync(backendPort) == name, Propagation, name, cluster.Diagnostics);
            }
            await Wait.UntilAsync(async () => (await GreetingFromAsync("127.0.0.1", port)).StartsWith("db-", StringComparison.Ordinal), Propagation, "the tcp listener", cluster.Diagnostics);

            // Round-robin alone would rotate over the three backends; each client address must
            // instead get the same backend on every connection.
            for (var client = 1; client <= 6; client++)
            {
                var source = $"127.0.0.{client}";
                var first = await GreetingFromAsync(source, port);
                Assert.StartsWith("db-", first, StringComparison.Ordinal);
                for (var i = 0; i < 5; i++)
                {
                    Assert.Equal(first, await GreetingFromAsync(source, port));
                }
                output.WriteLine($"{source} -> {first}");
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<string> GreetingFromAsync(string source, int port)
    {
        using var client = new TcpClient(new IPEndPoint(IPAddress.Parse(source), 0));
        await client.ConnectAsync(IPAddress.Loopback, port);
        using var reader = new StreamReader(client.GetStream());
        return (await reader.ReadLineAsync())?.Trim() ?? "";
    }

    private static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    private static async Task<string> GreetingAsync(int port)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
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
