using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Health;

public sealed class HealthMonitorTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly PoolRegistry _registry;
    private readonly HealthMonitor _monitor;

    public HealthMonitorTests()
    {
        _registry = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        _monitor = new HealthMonitor(_registry, TimeProvider.System, NullLogger<HealthMonitor>.Instance);
    }

    public void Dispose() => _monitor.Dispose();

    private BackendState State(string pool = "p", string name = "b1") =>
        _registry.Find(pool)!.Backends.Single(b => b.Name == name);

    /// <summary>Reads transitions until one satisfies <paramref name="predicate"/>; fails after the timeout.</summary>
    private async Task<HealthObservation> NextTransitionAsync(Func<HealthObservation, bool> predicate, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Wait);
        var seen = new List<HealthObservation>();
        try
        {
            while (true)
            {
                var observation = await _monitor.Transitions.ReadAsync(cts.Token);
                seen.Add(observation);
                if (predicate(observation))
                {
                    return observation;
                }
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no matching transition; saw: {string.Join(" | ", seen)}");
            throw;
        }
    }

    [Theory]
    [InlineData(5_000, 3, 500)]        // a small pool: checked within half a second
    [InlineData(5_000, 400, 2_000)]    // a large one: about 200 first probes a second
    [InlineData(5_000, 10_000, 5_000)] // never longer than one interval
    [InlineData(300, 3, 300)]          // nor, for a short interval, than that interval
    public void FirstProbes_AreSpreadWiderForLargerPools_WithinOneInterval(int intervalMs, int backends, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), HealthMonitor.FirstProbeWindow(TimeSpan.FromMilliseconds(intervalMs), backends));
    }

    [Fact]
    public async Task Active_HealthyAfterFirstPass_UnhealthyAfterTwoFailures_HealthyAfterTwoPasses()
    {
        await using var server = await TestHttpBackend.StartAsync();
        _registry.Apply([Pool("p", [Backend("b1", server.Port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)))]);
        Assert.Equal(BackendHealth.Unknown, State().Health);

        var healthy = await NextTransitionAsync(_ => true);
        Assert.Equal(("p", "b1", BackendHealth.Healthy, "status 200"), (healthy.Pool, healthy.Backend, healthy.State, healthy.Reason));
        Assert.Equal(BackendHealth.Healthy, State().Health);

        var failingSince = DateTime.UtcNow;
        server.Status = 503;
        var unhealthy = await NextTransitionAsync(_ => true);
        Assert.Equal((BackendHealth.Unhealthy, "status 503"), (unhealthy.State, unhealthy.Reason));
        Assert.Equal(BackendHealth.Unhealthy, State().Health);
        var failures = server.Answers.Where(a => a.Status == 503 && a.At >= failingSince && a.At <= unhealthy.Since).Count();
        Assert.True(failures >= 2, $"unhealthy after {failures} failed probe(s), threshold is 2");

        var passingSince = DateTime.UtcNow;
        server.Status = 200;
        var recovered = await NextTransitionAsync(_ => true);
        Assert.Equal((BackendHealth.Healthy, "status 200"), (recovered.State, recovered.Reason));
        var passes = server.Answers.Where(a => a.Status == 200 && a.At >= passingSince && a.At <= recovered.Since).Count();
        Assert.True(passes >= 2, $"healthy again after {passes} passing probe(s), threshold is 2");
    }

    [Fact]
    public async Task Active_ProbesTheConfiguredPath()
    {
        var paths = new List<string>();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accept = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            var buffer = new byte[4096];
            var read = await socket.ReceiveAsync(buffer);
            lock (paths)
            {
                paths.Add(System.Text.Encoding.ASCII.GetString(buffer, 0, read).Split(' ')[1]);
            }
            await socket.SendAsync("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"u8.ToArray());
        });

        _registry.Apply([Pool("p", [Backend("b1", port)], HttpCheck(Interval, TimeSpan.FromSeconds(1), path: "/ready?deep=1"))]);

        var healthy = await NextTransitionAsync(_ => true);
        await accept.WaitAsync(Wait);
        Assert.Equal((BackendHealth.Healthy, "status 204"), (healthy.State, healthy.Reason));
        Assert.Equal(["/ready?deep=1"], paths);
    }

    [Fact]
    public async Task Active_BackendStopped_UnhealthyWithConnectionRefused()
    {
        var server = await TestHttpBackend.StartAsync();
        _registry.Apply([Pool("p", [Backend("b1", server.Port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)))]);
        Assert.Equal(BackendHealth.Healthy, (await NextTransitionAsync(_ => true)).State);

        await server.DisposeAsync();

        var unhealthy = await NextTransitionAsync(_ => true);
        Assert.Equal((BackendHealth.Unhealthy, "connection refused"), (unhealthy.State, unhealthy.Reason));
    }

    [Fact]
    public async Task Active_NewBackendRefusingConnections_UnhealthyAtFirstFailure()
    {
        using var refusing = Ports.Refusing();
        _registry.Apply([Pool("p", [Backend("b1", refusing.Port)], HttpCheck(Interval, TimeSpan.FromSeconds(1), unhealthy: 3))]);

        var unhealthy = await NextTransitionAsync(_ => true);

        Assert.Equal((BackendHealth.Unhealthy, "connection refused"), (unhealthy.State, unhealthy.Reason));
    }

    [Fact]
    public async Task Active_BackendAcceptsButNeverAnswers_UnhealthyWithTimeout()
    {
        // The kernel completes connections into the backlog; nobody ever reads or answers.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;

        _registry.Apply([Pool("p", [Backend("b1", port)], HttpCheck(Interval, TimeSpan.FromMilliseconds(200)))]);

        var unhealthy = await NextTransitionAsync(_ => true);
        Assert.Equal((BackendHealth.Unhealthy, "timeout"), (unhealthy.State, unhealthy.Reason));
    }

    [Fact]
    public async Task Active_TcpCheck_HealthyWhileListening()
    {
        using var listening = new TcpListener(IPAddress.Loopback, 0);
        listening.Start();
        var port = ((IPEndPoint)listening.LocalEndpoint).Port;
        var check = HttpCheck(Interval, TimeSpan.FromSeconds(1)) with { Type = "tcp" };

        _registry.Apply([Pool("p", [Backend("b1", port)], check)]);

        var healthy = await NextTransitionAsync(_ => true);
        Assert.Equal((BackendHealth.Healthy, "tcp connect ok"), (healthy.State, healthy.Reason));
    }

    [Fact]
    public async Task Passive_ThreeFailures_EjectUntilEjectionTimeIsOver()
    {
        var ejection = TimeSpan.FromMilliseconds(400);
        _registry.Apply([Pool("p", [Backend("b1", 1)], passive: new PassiveHealthConfig(3, ejection))]);
        var backend = State();
        Assert.Equal(BackendHealth.Healthy, backend.Health);

        _monitor.ReportPassive(backend, false, "status 502");
        _monitor.ReportPassive(backend, false, "status 502");
        Assert.Equal(BackendHealth.Healthy, backend.Health);
        var watch = Stopwatch.StartNew();
        _monitor.ReportPassive(backend, false, "status 502");

        Assert.Equal(BackendHealth.Unhealthy, backend.Health);
        var ejected = await NextTransitionAsync(_ => true);
        Assert.Equal(BackendHealth.Unhealthy, ejected.State);
        Assert.StartsWith("passive:", ejected.Reason, StringComparison.Ordinal);
        Assert.Contains("status 502", ejected.Reason, StringComparison.Ordinal);

        var back = await NextTransitionAsync(_ => true);
        Assert.Equal(BackendHealth.Healthy, back.State);
        Assert.True(watch.Elapsed >= ejection - TimeSpan.FromMilliseconds(20), $"back after {watch.Elapsed}, ejection is {ejection}");
        Assert.Equal(BackendHealth.Healthy, backend.Health);
    }

    [Fact]
    public async Task Passive_EjectedBackendWhoseActiveCheckPasses_IsBackLongBeforeTheEjectionTime()
    {
        await using var server = await TestHttpBackend.StartAsync();
        _registry.Apply([Pool("p", [Backend("b1", server.Port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)), passive: new PassiveHealthConfig(3, TimeSpan.FromSeconds(30)))]);
        Assert.Equal(BackendHealth.Healthy, (await NextTransitionAsync(_ => true)).State);
        var backend = State();

        for (var i = 0; i < 3; i++)
        {
            _monitor.ReportPassive(backend, false, "status 502");
        }
        var ejected = await NextTransitionAsync(_ => true);
        Assert.Equal(BackendHealth.Unhealthy, ejected.State);

        // The next passing probe (every 100 ms) lifts the 30 s ejection, as Envoy does by default.
        var back = await NextTransitionAsync(_ => true);
        Assert.Equal(BackendHealth.Healthy, back.State);
        Assert.StartsWith("ejection lifted: active check passed (status 200)", back.Reason, StringComparison.Ordinal);
        Assert.True(back.Since - ejected.Since < TimeSpan.FromSeconds(5), $"back {back.Since - ejected.Since} after the ejection");
        Assert.Equal(BackendHealth.Healthy, backend.Health);
    }

    [Fact]
    public async Task Passive_KeepEjectionOnActivePass_KeepsTheBackendOutForTheWholeEjectionTime()
    {
        var ejection = TimeSpan.FromMilliseconds(1500);
        await using var server = await TestHttpBackend.StartAsync();
        _registry.Apply([Pool("p", [Backend("b1", server.Port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)), passive: new PassiveHealthConfig(3, ejection, KeepEjectionOnActivePass: true))]);
        Assert.Equal(BackendHealth.Healthy, (await NextTransitionAsync(_ => true)).State);
        var backend = State();

        var watch = Stopwatch.StartNew();
        var ejectedAt = DateTime.UtcNow;
        for (var i = 0; i < 3; i++)
        {
            _monitor.ReportPassive(backend, false, "status 502");
        }
        Assert.Equal(BackendHealth.Unhealthy, (await NextTransitionAsync(_ => true)).State);

        var back = await NextTransitionAsync(_ => true);
        Assert.Equal(BackendHealth.Healthy, back.State);
        Assert.Equal("ejection over", back.Reason);
        Assert.True(watch.Elapsed >= ejection - TimeSpan.FromMilliseconds(20), $"back after {watch.Elapsed}, ejection is {ejection}");
        // The checks kept passing meanwhile: it was the setting, not the probes, that kept it out.
        var passesWhileEjected = server.Answers.Count(a => a.Status == 200 && a.At > ejectedAt && a.At < back.Since);
        Assert.True(passesWhileEjected >= 3, $"{passesWhileEjected} passing probes during the ejection");
    }

    [Fact]
    public void Passive_SuccessResetsTheFailureCount()
    {
        _registry.Apply([Pool("p", [Backend("b1", 1)], passive: new PassiveHealthConfig(3, TimeSpan.FromSeconds(30)))]);
        var backend = State();

        _monitor.ReportPassive(backend, false);
        _monitor.ReportPassive(backend, false);
        _monitor.ReportPassive(backend, true);
        _monitor.ReportPassive(backend, false);
        _monitor.ReportPassive(backend, false);

        Assert.Equal(BackendHealth.Healthy, backend.Health);
        Assert.False(_monitor.Transitions.TryRead(out _));
    }

    [Fact]
    public void Passive_PoolWithoutPassiveHealth_NeverEjects()
    {
        _registry.Apply([Pool("p", [Backend("b1", 1)])]);
        var backend = State();

        for (var i = 0; i < 20; i++)
        {
            _monitor.ReportPassive(backend, false, "status 500");
        }

        Assert.Equal(BackendHealth.Healthy, backend.Health);
    }

    [Fact]
    public async Task Passive_EjectedBackend_StaysEjectedAcrossAnUnrelatedPoolChange()
    {
        var passive = new PassiveHealthConfig(1, TimeSpan.FromSeconds(30));
        _registry.Apply([Pool("p", [Backend("b1", 1), Backend("b2", 2)], passive: passive)]);
        _monitor.ReportPassive(State(), false, "x");
        await NextTransitionAsync(o => o.State == BackendHealth.Unhealthy);

        _registry.Apply([Pool("p", [Backend("b1", 1), Backend("b2", 2, weight: 5)], passive: passive)]);

        Assert.Equal(BackendHealth.Unhealthy, State().Health);
        Assert.Equal(BackendHealth.Healthy, State(name: "b2").Health);
    }

    [Fact]
    public void Summary_ListsWatchedBackends_AndForgetsRemovedOnes()
    {
        _registry.Apply([Pool("p", [Backend("b1", 1), Backend("b2", 2)])]);

        var summary = _monitor.Summary();
        Assert.Equal(["b1", "b2"], summary.Select(o => o.Backend));
        Assert.All(summary, o => Assert.Equal((BackendHealth.Healthy, "no active check"), (o.State, o.Reason)));

        var removed = State(name: "b2");
        _registry.Apply([Pool("p", [Backend("b1", 1)])]);

        Assert.Equal(["b1"], _monitor.Summary().Select(o => o.Backend));
        Assert.Null(_monitor.Find(removed));
    }

    [Fact]
    public async Task Active_CheckRemoved_BackendBecomesHealthyWithoutProbes()
    {
        using var refusing = Ports.Refusing();
        var port = refusing.Port;
        _registry.Apply([Pool("p", [Backend("b1", port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)))]);
        Assert.Equal(BackendHealth.Unhealthy, (await NextTransitionAsync(_ => true)).State);

        _registry.Apply([Pool("p", [Backend("b1", port)])]);

        Assert.Equal(BackendHealth.Healthy, State().Health);
        Assert.Equal("no active check", _monitor.Find(State())!.Reason);
    }

    [Fact]
    public async Task Active_CheckRemovedFromUnhealthyBackend_PublishesHealthyTransition()
    {
        using var refusing = Ports.Refusing();
        var port = refusing.Port;
        _registry.Apply([Pool("p", [Backend("b1", port)], HttpCheck(Interval, TimeSpan.FromSeconds(1)))]);
        Assert.Equal(BackendHealth.Unhealthy, (await NextTransitionAsync(_ => true)).State);

        _registry.Apply([Pool("p", [Backend("b1", port)])]);

        var healthy = await NextTransitionAsync(_ => true, TimeSpan.FromSeconds(1));
        Assert.Equal(BackendHealth.Healthy, healthy.State);
    }
}
