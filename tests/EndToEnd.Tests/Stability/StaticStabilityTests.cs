using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.Tls;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Stability;

/// <summary>
/// Issue 8 end to end: the data plane never depends on the control plane being up, and an
/// acknowledged write survives kill -9. Figures are printed in the test output.
/// </summary>
public sealed class StaticStabilityTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ControlPlaneDown_UnderLoad_NoFailedRequests_ThenChangesFlowAgain()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var first = await cluster.StartBackendAsync("st-1");
            var second = await cluster.StartBackendAsync("st-2");
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("stable"), Yaml.Backend("st-1", "stable", first.Port), Yaml.HttpListener("stable", "edge", port, "stable")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "st-1", Propagation, "the listener", cluster.Diagnostics);

            // 30 s with LB_SOAK=1; CI holds the outage for 8 s (the agent behaves the same from the first second).
            var outage = Soak.Duration(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(8));
            var load = new SteadyLoad([url]);
            cluster.ControlPlane.Kill();
            var down = Stopwatch.StartNew();
            await Wait.UntilAsync(() => down.Elapsed >= outage && load.Sent > 0, outage + TimeSpan.FromSeconds(10), $"{outage.TotalSeconds:0} seconds without a control plane");
            await cluster.StartControlPlaneAsync();
            var (sent, failed) = await load.StopAsync();
            output.WriteLine($"control plane down for {down.Elapsed.TotalSeconds:0} s: requests sent {sent}, failed {failed}");
            Assert.True(sent > 100, $"only {sent} requests");
            Assert.Equal(0, failed);

            // The agent reconnects by itself (backoff capped at 10 s) and takes the next change.
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("st-2", "stable", second.Port))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "st-2", TimeSpan.FromSeconds(30), "the change after the restart to reach the agent", cluster.Diagnostics);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Agent_RestartedWhileControlPlaneDown_ServesHttpAndTlsFromItsSealedCache_AndAnotherKeyIsAColdStart()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("c-1");
            var agent = await cluster.StartAgentAsync("internal", "int-1");
            var port = Ports.Free();
            var tlsPort = Ports.Free();
            var certificate = TestCertificate.Create("cached.example.test");
            var files = await certificate.WriteAsync(cluster.Root, "cached");
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("cached"),
                Yaml.Backend("c-1", "cached", backend.Port),
                Yaml.HttpListener("cached", "internal", port, "cached"),
                $$"""
                apiVersion: lb/v1
                kind: Certificate
                metadata: {name: cached-tls}
                spec:
                  certificateFile: {{files.Cert}}
                  privateKeyFile: {{files.Key}}
                ---
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: cached-tls}
                spec:
                  tier: internal
                  port: {{tlsPort}}
                  protocol: https
                  certificates: [cached-tls]
                  routes:
                    - {pathPrefix: /, pool: cached}
                ---

                """))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "c-1", Propagation, "the listener", cluster.Diagnostics);
            await Wait.UntilAsync(async () => await TlsTests.FingerprintAsync(tlsPort, "cached.example.test") == certificate.Fingerprint, Propagation, "the https listener", cluster.Diagnostics);
            var cacheDirectory = Path.Combine(cluster.Root, "cache-int-1");
            var cacheFile = AgentCache.SealedFile(cacheDirectory);
            await Wait.UntilAsync(() => AgentCache.TryRead(cacheDirectory) is not null, Propagation, "the snapshot to be cached", cluster.Diagnostics);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cacheFile));
            }

            cluster.ControlPlane.Kill();
            agent.Process.Kill();
            string[] restartArgs =
            [
                .. await cluster.AgentConnectionArgsAsync("internal"), "--tier", "internal", "--name", "int-1",
                "--cache", cacheDirectory, "--bind", "127.0.0.1",
            ];
            var started = Stopwatch.StartNew();
            var restarted = cluster.Track(ManagedProcess.Start("agent int-1 (restarted)", Binaries.Agent, [.. restartArgs, "--admin", $"http://127.0.0.1:{Ports.Free()}"]));
            var serving = await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "c-1", TimeSpan.FromSeconds(10), "the restarted agent to serve from its cache", () => restarted.Output);
            output.WriteLine($"restarted agent served from its cache {serving.TotalMilliseconds:0} ms after start");
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed.TotalMilliseconds:0} ms");
            // TLS too (its listener comes up right after): the handshake needs the private key, which came out of the sealed cache.
            await Wait.UntilAsync(async () => await TlsTests.FingerprintAsync(tlsPort, "cached.example.test") == certificate.Fingerprint, TimeSpan.FromSeconds(10), "the restarted agent to serve TLS from its cache", () => restarted.Output);

            // Another key in the key file (replaced, or the cache copied without its own): the
            // cache cannot be opened, so the agent starts cold, says why, and does not crash.
            restarted.Kill();
            await File.WriteAllTextAsync(AgentCache.KeyFile(cacheDirectory), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
            var adminUrl = $"http://127.0.0.1:{Ports.Free()}";
            var cold = cluster.Track(ManagedProcess.Start("agent int-1 (other key)", Binaries.Agent, [.. restartArgs, "--admin", adminUrl]));
            await Wait.UntilAsync(() => cold.Output.Contains("Cannot open the sealed snapshot cache", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the agent to say why it starts cold", () => cold.Output);
            Assert.Contains("sealed under another key", cold.Output, StringComparison.Ordinal);
            // The cache is read before the admin endpoint listens: wait for it to be alive.
            await Wait.UntilAsync(async () => (await cluster.Http.GetAsync(adminUrl + "/healthz")).IsSuccessStatusCode, TimeSpan.FromSeconds(10), "the cold agent to be alive", () => cold.Output);
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await cluster.Http.GetAsync(adminUrl + "/readyz")).StatusCode);
            await Assert.ThrowsAsync<HttpRequestException>(() => cluster.WhoAnswersAsync(url));
            Assert.False(cold.HasExited, cold.Output);

            // Once the control plane is back, the snapshot is served and cached under the key now in the file.
            await cluster.StartControlPlaneAsync();
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "c-1", TimeSpan.FromSeconds(30), "the cold agent to get its snapshot", () => cold.Output);
            await Wait.UntilAsync(() => AgentCache.TryRead(cacheDirectory) is not null, Propagation, "the cache to be sealed under the new key", () => cold.Output);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task ControlPlaneSigterm_WithAgentsUnderLoad_ExitsWithin5Seconds_AgentsKeepServing()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("g-1");
            AgentHandle[] agents = [await cluster.StartAgentAsync("edge", "edge-a", bind: "127.0.0.1"), await cluster.StartAgentAsync("edge", "edge-b", bind: "127.0.0.2")];
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("going"), Yaml.Backend("g-1", "going", backend.Port), Yaml.HttpListener("going", "edge", port, "going")))).ExitCode);
            string[] urls = [$"http://127.0.0.1:{port}/", $"http://127.0.0.2:{port}/"];
            foreach (var url in urls)
            {
                await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "g-1", Propagation, url, cluster.Diagnostics);
            }
            await Wait.UntilAsync(
                async () => (await cluster.Management.ListAgentsAsync(new ListRequest())).Items.Count(a => a.Status.Connected) == 2,
                Propagation,
                "both agents connected",
                cluster.Diagnostics);

            // One load per agent, no failover between them: each agent must keep serving on its own.
            SteadyLoad[] loads = [new([urls[0]], workers: 2), new([urls[1]], workers: 2)];
            await Wait.UntilAsync(() => loads.All(l => l.Sent > 20), Propagation, "load to flow");
            var stopping = Stopwatch.StartNew();
            Assert.True(await cluster.ControlPlane.TerminateAsync(TimeSpan.FromSeconds(15)), "the control plane exits on SIGTERM");
            var exited = stopping.Elapsed;

            // Each agent was told the control plane is going away, logs it calmly and keeps serving.
            foreach (var agent in agents)
            {
                await Wait.UntilAsync(() => agent.Process.Output.Contains("is stopping; serving the current snapshot", StringComparison.Ordinal), Propagation, $"{agent.Name} to see the planned stop", cluster.Diagnostics);
            }
            var sentAtExit = loads.Sum(l => l.Sent);
            await Wait.UntilAsync(() => loads.Sum(l => l.Sent) > sentAtExit + 100, Propagation, "load after the control plane stopped");
            var figures = new List<(int Sent, int Failed)>();
            foreach (var load in loads)
            {
                figures.Add(await load.StopAsync());
            }
            var output1 = cluster.ControlPlane.Output;
            output.WriteLine($"control plane exited {exited.TotalMilliseconds:0} ms after SIGTERM; requests sent {figures.Sum(f => f.Sent)}, failed {figures.Sum(f => f.Failed)} {string.Concat(loads.Select(l => l.Failures))}");
            Assert.True(exited < TimeSpan.FromSeconds(5), $"took {exited.TotalMilliseconds:0} ms:\n{output1}");
            Assert.Equal(0, figures.Sum(f => f.Failed));
            Assert.All(agents, a => Assert.False(a.Process.HasExited));
            // Information, not a warning: a planned stop is no fault (reconnect attempts to the absent server may warn later).
            Assert.All(agents, a => Assert.Contains(a.Process.Output.Split('\n'), l => l.Contains("is stopping; serving the current snapshot", StringComparison.Ordinal) && l.Contains("info:", StringComparison.Ordinal)));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task AgentSigterm_FinishesTheInFlightRequest_RefusesNewConnections_AndExitsInBoundedTime()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("d-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("draining"), Yaml.Backend("d-1", "draining", backend.Port), Yaml.HttpListener("draining", "edge", port, "draining")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/") == "d-1", Propagation, "the listener", cluster.Diagnostics);

            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var slow = client.GetAsync($"http://127.0.0.1:{port}/slow/4000");
            // The request is in flight once the agent counts it against the backend.
            await Wait.UntilAsync(
                async () => (await cluster.Http.GetStringAsync(agent.AdminUrl + "/metrics")).Split('\n')
                    .Any(l => l.StartsWith("lb_agent_backend_in_flight{", StringComparison.Ordinal) && l.Contains("d-1", StringComparison.Ordinal) && !l.EndsWith(" 0", StringComparison.Ordinal)),
                Propagation,
                "the slow request to reach the backend",
                cluster.Diagnostics);

            var terminated = Stopwatch.StartNew();
            var exited = agent.Process.TerminateAsync(TimeSpan.FromSeconds(20));
            var refusedAfter = await Wait.UntilAsync(async () => !await AcceptsConnectionAsync(port), TimeSpan.FromSeconds(5), "new connections to be refused", cluster.Diagnostics);
            Assert.False(slow.IsCompleted, "new connections are refused while the old request is still in flight");

            using var response = await slow;
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(await exited, "the agent exits");
            output.WriteLine($"agent SIGTERM: new connections refused after {refusedAfter.TotalMilliseconds:0} ms, in-flight request answered {(int)response.StatusCode} '{body.Trim()}', exited after {terminated.ElapsedMilliseconds} ms");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("d-1 slow 4000", body.Trim());
            Assert.True(terminated.Elapsed < TimeSpan.FromSeconds(15), $"exited after {terminated.ElapsedMilliseconds} ms");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task OneApply_ChangesAListenerAndAddsOneOnAHeldPort_TheChangeTakesEffect_NoRequestFails_FreedPortComesUp()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var before = await cluster.StartBackendAsync("old-1");
            var after = await cluster.StartBackendAsync("new-1");
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("old"), Yaml.Backend("old-1", "old", before.Port), Yaml.HttpListener("main", "edge", port, "old")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "old-1", Propagation, "the existing listener", cluster.Diagnostics);

            var heldPort = Ports.Free();
            using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, heldPort);
            squatter.Start();
            var load = new SteadyLoad([url]);
            await Wait.UntilAsync(() => load.Sent > 20, Propagation, "load to flow");

            // One apply: the existing listener moves to another pool, and a listener is added on the held port.
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("new"),
                Yaml.Backend("new-1", "new", after.Port),
                Yaml.HttpListener("main", "edge", port, "new"),
                Yaml.HttpListener("blocked", "edge", heldPort, "new")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "new-1", Propagation, "the change to the existing listener", cluster.Diagnostics);
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetListenerAsync(new GetRequest { Name = "blocked" })).Status.Agents.Any(a => !a.Programmed && a.Reason.Contains("in use", StringComparison.Ordinal)),
                Propagation,
                "the blocked listener's reason",
                cluster.Diagnostics);
            var listeners = await cluster.LbctlAsync("get", "listeners");
            var agents = await cluster.LbctlAsync("get", "agents");
            output.WriteLine(listeners.Stdout + agents.Stdout);
            Assert.Contains(listeners.Stdout.Split('\n'), l => l.StartsWith("blocked", StringComparison.Ordinal) && l.Contains("0/1", StringComparison.Ordinal));
            Assert.Contains(listeners.Stdout.Split('\n'), l => l.StartsWith("main", StringComparison.Ordinal) && l.Contains("1/1", StringComparison.Ordinal));
            Assert.Contains(agents.Stdout.Split('\n'), l => l.StartsWith("edge-1", StringComparison.Ordinal) && l.Contains("Degraded", StringComparison.Ordinal));
            var describe = await cluster.LbctlAsync("describe", "listener", "blocked");
            Assert.Contains($"port {heldPort} on 127.0.0.1 is already in use", describe.Stdout, StringComparison.Ordinal);

            // Free the port: the agent's retry brings the listener up, no further apply.
            squatter.Stop();
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{heldPort}/") == "new-1", TimeSpan.FromSeconds(40), "the freed port to be served without another apply", cluster.Diagnostics);
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetListenerAsync(new GetRequest { Name = "blocked" })).Status.Agents.All(a => a.Programmed),
                Propagation,
                "the listener to be reported programmed",
                cluster.Diagnostics);
            var (sent, failed) = await load.StopAsync();
            output.WriteLine($"held port: requests sent {sent}, failed {failed}{(failed > 0 ? ": " + load.Failures : "")}");
            Assert.True(sent > 50, $"only {sent} requests");
            Assert.Equal(0, failed);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<bool> AcceptsConnectionAsync(int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task KillDashNine_DuringSequentialWrites_EveryAcknowledgedWriteSurvives()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Pool("writes"))).ExitCode);
            var acknowledged = new List<string>();
            var attempted = 0;
            var killAfter = 300 + Random.Shared.Next(300);
            using (var channel = cluster.CreateChannel())
            {
                var client = new Management.ManagementClient(TestCluster.WithToken(channel, () => File.ReadAllText(cluster.AdminTokenFile).Trim()));
                for (var i = 0; i < 1000; i++)
                {
                    if (i == killAfter)
                    {
                        _ = Task.Run(cluster.ControlPlane.Kill);
                    }
                    var name = "w-" + i.ToString(CultureInfo.InvariantCulture);
                    attempted++;
                    try
                    {
                        await client.CreateBackendAsync(new WriteBackendRequest
                        {
                            Backend = new Backend
                            {
                                Metadata = new ObjectMeta { Name = name },
                                Spec = new BackendSpec { Pool = "writes", Address = "127.0.0.1:" + (10000 + i).ToString(CultureInfo.InvariantCulture) },
                            },
                        }, deadline: DateTime.UtcNow.AddSeconds(5));
                        acknowledged.Add(name);
                    }
                    catch (RpcException)
                    {
                        break;
                    }
                }
            }
            cluster.ControlPlane.Kill();

            // Restart runs the integrity check; the server refuses to start on a damaged file.
            await cluster.StartControlPlaneAsync();
            var present = (await cluster.Management.ListBackendsAsync(new ListRequest())).Items.Select(b => b.Metadata.Name).ToHashSet();
            var missing = acknowledged.Where(n => !present.Contains(n)).ToList();
            output.WriteLine($"writes attempted {attempted}, acknowledged {acknowledged.Count}, present after restart {acknowledged.Count - missing.Count}, killed after write {killAfter}");
            Assert.True(acknowledged.Count >= killAfter - 1, "writes were acknowledged before the kill");
            Assert.Empty(missing);
            var revision = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            Assert.True(revision >= acknowledged.Count + 1);

            // Beyond the start-up check: ask SQLite itself, on the file the restarted server uses.
            var integrity = await IntegrityCheckAsync(Path.Combine(cluster.Root, "cp-data", "lb.db"));
            output.WriteLine(integrity == "ok" ? "integrity ok" : "integrity: " + integrity);
            Assert.Equal("ok", integrity);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task RollingRestart_OfBothAgents_BehindARetryingClient_LosesNoRequest()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("r-1");
            var a = await cluster.StartAgentAsync("edge", "edge-a", bind: "127.0.0.1");
            var b = await cluster.StartAgentAsync("edge", "edge-b", bind: "127.0.0.2");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("rolling"), Yaml.Backend("r-1", "rolling", backend.Port), Yaml.HttpListener("rolling", "edge", port, "rolling")))).ExitCode);
            string[] urls = [$"http://127.0.0.1:{port}/", $"http://127.0.0.2:{port}/"];
            foreach (var url in urls)
            {
                await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "r-1", Propagation, url, cluster.Diagnostics);
            }

            var load = new SteadyLoad(urls);
            foreach (var (agent, bind) in new[] { (a, "127.0.0.1"), (b, "127.0.0.2") })
            {
                Assert.True(await agent.Process.TerminateAsync(TimeSpan.FromSeconds(20)), $"{agent.Name} exits on SIGTERM");
                var again = await cluster.StartAgentAsync("edge", agent.Name, bind);
                await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://{bind}:{port}/") == "r-1", Propagation, $"{agent.Name} back", cluster.Diagnostics);
            }
            var (sent, failed) = await load.StopAsync();
            output.WriteLine($"rolling restart: requests sent {sent}, lost {failed}");
            Assert.True(sent > 50);
            Assert.Equal(0, failed);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task ControlPlane_RefusesADamagedDatabase_AndBackupRestoresEverything_AndTheAgentConverges()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var kept = await cluster.StartBackendAsync("kept-1");
            var later = await cluster.StartBackendAsync("later-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var url = $"http://127.0.0.1:{port}/";
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("kept"), Yaml.Backend("kept-1", "kept", kept.Port), Yaml.HttpListener("site", "edge", port, "kept")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "kept-1", Propagation, "the backed-up configuration", cluster.Diagnostics);
            var backupFile = Path.Combine(cluster.Root, "backup.db");
            var backup = await RunAsync(Binaries.ControlPlane, "backup", "--data", Path.Combine(cluster.Root, "cp-data"), "--to", backupFile);
            Assert.True(backup.ExitCode == 0, backup.ToString());
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backupFile));
            }
            var backedUp = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;

            // Writes after the backup, which the restore will undo; the agent serves them at a higher revision.
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("later"), Yaml.Backend("later-1", "later", later.Port, weight: i + 1), Yaml.HttpListener("site", "edge", port, "later")))).ExitCode);
            }
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "later-1", Propagation, "the post-backup configuration", cluster.Diagnostics);
            var agentRevision = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            // A clean stop checkpoints the WAL into the database file.
            Assert.True(await cluster.ControlPlane.TerminateAsync(TimeSpan.FromSeconds(20)));

            // Damage the database's pages (not its header): the next start refuses with a clear message.
            var database = Path.Combine(cluster.Root, "cp-data", "lb.db");
            Assert.False(File.Exists(database + "-wal") && new FileInfo(database + "-wal").Length > 0, "the WAL was checkpointed");
            var bytes = await File.ReadAllBytesAsync(database);
            Assert.True(bytes.Length > 8192, $"database of {bytes.Length} bytes");
            for (var i = 4096; i < bytes.Length; i += 7)
            {
                bytes[i] ^= 0x5a;
            }
            await File.WriteAllBytesAsync(database, bytes);
            var refused = await RunAsync(Binaries.ControlPlane, "--data", Path.Combine(cluster.Root, "cp-data"), "--listen", cluster.ControlPlaneUrl);
            output.WriteLine(refused.ToString());
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("Refusing to start", refused.Stderr, StringComparison.Ordinal);

            // Restore: the backup becomes the database, with a new epoch.
            var restore = await RunAsync(Binaries.ControlPlane, "restore", "--data", Path.Combine(cluster.Root, "cp-data"), "--from", backupFile);
            output.WriteLine(restore.ToString());
            Assert.True(restore.ExitCode == 0, restore.ToString());
            await cluster.StartControlPlaneAsync();
            Assert.Equal(["kept-1"], (await cluster.Management.ListBackendsAsync(new ListRequest())).Items.Select(b => b.Metadata.Name));
            var restored = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            Assert.True(restored < agentRevision, $"restored revision {restored}, agent at {agentRevision}");

            // The agent (still running, at the higher revision) converges to the restored
            // configuration, and a write after the restore reaches it although its revision is still lower.
            var converged = await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "kept-1", TimeSpan.FromSeconds(30), "the agent to take the restored configuration", cluster.Diagnostics);
            var newPort = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.HttpListener("after-restore", "edge", newPort, "kept"))).ExitCode);
            var afterRevision = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{newPort}/") == "kept-1", Propagation, "a write after the restore to reach the agent", cluster.Diagnostics);
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetAgentAsync(new GetRequest { Name = "edge-1" })).Status.AppliedRevision == afterRevision,
                Propagation,
                "the agent to report the restored history's revision",
                cluster.Diagnostics);
            output.WriteLine($"backup at revision {backedUp}, agent at {agentRevision} before the restore; restored revision {restored}; agent converged {converged.TotalSeconds:0.0} s after the restart; write after the restore at revision {afterRevision} applied");
            Assert.False(agent.Process.HasExited);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<string> IntegrityCheckAsync(string database)
    {
        // Read-only, beside the running server: WAL lets a reader see a consistent state.
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Mode=ReadOnly");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<CommandResult> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Never leave a process behind: a server that should have exited is killed.
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new CommandResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Sequential GETs from a few workers; each request tries the URLs in turn and is lost only if all fail.</summary>
    private sealed class SteadyLoad
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private int _sent;
        private int _failed;
        private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);

        public SteadyLoad(string[] urls, int workers = 3)
        {
            _workers = Enumerable.Range(0, workers).Select(w => Task.Run(() => RunAsync(urls, w))).ToArray();
        }

        public int Sent => Volatile.Read(ref _sent);

        /// <summary>Why attempts failed, with counts, for the test output.</summary>
        public string Failures
        {
            get
            {
                lock (_failures)
                {
                    return string.Join("; ", _failures.Select(f => $"{f.Value} x {f.Key}"));
                }
            }
        }

        private void Note(string failure)
        {
            lock (_failures)
            {
                _failures[failure] = _failures.GetValueOrDefault(failure) + 1;
            }
        }

        private async Task RunAsync(string[] urls, int worker)
        {
            using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMilliseconds(500) }) { Timeout = TimeSpan.FromSeconds(5) };
            var next = worker;
            while (!_stop.IsCancellationRequested)
            {
                var ok = false;
                for (var attempt = 0; attempt < urls.Length && !ok; attempt++)
                {
                    var url = urls[next++ % urls.Length];
                    try
                    {
                        using var response = await client.GetAsync(url);
                        ok = response.IsSuccessStatusCode;
                        if (!ok)
                        {
                            Note($"{(int)response.StatusCode} {(await response.Content.ReadAsStringAsync()).Trim()}");
                        }
                    }
                    catch (HttpRequestException ex)
                    {
                        // Try the next agent.
                        Note(ex.Message);
                    }
                    catch (TaskCanceledException)
                    {
                        // Timed out: try the next agent.
                        Note("timed out");
                    }
                }
                Interlocked.Increment(ref _sent);
                if (!ok)
                {
                    Interlocked.Increment(ref _failed);
                }
                await Task.Delay(20);
            }
        }

        public async Task<(int Sent, int Failed)> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            return (Sent, Volatile.Read(ref _failed));
        }
    }
}
