using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
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
    public async Task ControlPlaneDown30Seconds_UnderLoad_NoFailedRequests_ThenChangesFlowAgain()
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

            var load = new SteadyLoad([url]);
            cluster.ControlPlane.Kill();
            var down = Stopwatch.StartNew();
            await Wait.UntilAsync(() => down.Elapsed >= TimeSpan.FromSeconds(30) && load.Sent > 0, TimeSpan.FromSeconds(40), "30 seconds without a control plane");
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
    public async Task Agent_RestartedWhileControlPlaneDown_ServesFromItsCache()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("c-1");
            var agent = await cluster.StartAgentAsync("internal", "int-1");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("cached"), Yaml.Backend("c-1", "cached", backend.Port), Yaml.HttpListener("cached", "internal", port, "cached")))).ExitCode);
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "c-1", Propagation, "the listener", cluster.Diagnostics);
            var cacheFile = Path.Combine(cluster.Root, "cache-int-1", "snapshot.pb");
            Assert.True(File.Exists(cacheFile));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cacheFile));
            }

            cluster.ControlPlane.Kill();
            agent.Process.Kill();
            var started = Stopwatch.StartNew();
            var restarted = cluster.Track(ManagedProcess.Start("agent int-1 (restarted)", Binaries.Agent,
            [
                .. await cluster.AgentConnectionArgsAsync("internal"), "--tier", "internal", "--name", "int-1",
                "--admin", $"http://127.0.0.1:{Ports.Free()}", "--cache", Path.Combine(cluster.Root, "cache-int-1"), "--bind", "127.0.0.1",
            ]));
            var serving = await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "c-1", TimeSpan.FromSeconds(10), "the restarted agent to serve from its cache", () => restarted.Output);
            output.WriteLine($"restarted agent served from its cache {serving.TotalMilliseconds:0} ms after start");
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed.TotalMilliseconds:0} ms");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
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
    public async Task ControlPlane_RefusesADamagedDatabase_AndBackupRestoresEverything()
    {
        await using var cluster = await TestCluster.StartAsync();
        Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("kept"), Yaml.Backend("kept-1", "kept", 9999)))).ExitCode);
        var backupFile = Path.Combine(cluster.Root, "backup.db");
        var backup = await RunAsync(Binaries.ControlPlane, "backup", "--data", Path.Combine(cluster.Root, "cp-data"), "--to", backupFile);
        Assert.True(backup.ExitCode == 0, backup.ToString());
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

        // Restore: the backup file becomes the database.
        File.Copy(backupFile, database, overwrite: true);
        await cluster.StartControlPlaneAsync();
        Assert.Equal("kept-1", Assert.Single((await cluster.Management.ListBackendsAsync(new ListRequest())).Items).Metadata.Name);
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

        public SteadyLoad(string[] urls, int workers = 3)
        {
            _workers = Enumerable.Range(0, workers).Select(w => Task.Run(() => RunAsync(urls, w))).ToArray();
        }

        public int Sent => Volatile.Read(ref _sent);

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
                    }
                    catch (HttpRequestException)
                    {
                        // Try the next agent.
                    }
                    catch (TaskCanceledException)
                    {
                        // Timed out: try the next agent.
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
