using System.Diagnostics;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tests.Support;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

public sealed class PoolRegistryTests
{
    private const int DrainingEventId = 2002;
    private const int DrainedEventId = 2003;

    private readonly BackendActivity _activity = new();
    private readonly ListLogger<PoolRegistry> _log = new();
    private readonly PoolRegistry _registry;

    public PoolRegistryTests()
    {
        _registry = new PoolRegistry(_activity, _log, TimeProvider.System);
    }

    private static PoolConfig Web(string state = "enabled", int weight = 1, int retries = 0, TimeSpan? drain = null, TimeSpan? connect = null) =>
        Pool("web", [Backend("w1", 8081, weight, state), Backend("w2", 8082)], drainTimeout: drain, retries: retries, connectTimeout: connect);

    private BackendState W1 => _registry.Find("web")!.Backends.Single(b => b.Name == "w1");

    [Fact]
    public void Apply_UnchangedPool_KeepsRuntimeBalancerAndHttpClient()
    {
        _registry.Apply([Web()]);
        var before = _registry.Find("web")!;

        _registry.Apply([Web()]);

        var after = _registry.Find("web")!;
        Assert.Same(before, after);
        Assert.Same(before.Balancer, after.Balancer);
        Assert.Same(before.HttpClient, after.HttpClient);
    }

    [Fact]
    public void Apply_ChangedPool_KeepsBackendStatesAndTheirCounters()
    {
        _registry.Apply([Web()]);
        var before = _registry.Find("web")!;
        var w1 = W1;
        w1.Enter();
        w1.Enter();

        _registry.Apply([Web(retries: 2)]);

        var after = _registry.Find("web")!;
        Assert.NotSame(before, after);
        Assert.Equal(2, after.Config.Retries);
        Assert.Same(w1, W1);
        Assert.Equal(2, W1.InFlight);
        Assert.Equal(before.Backends, after.Backends);
    }

    [Fact]
    public void Apply_ChangeNotTouchingTheTransport_KeepsHttpClient()
    {
        _registry.Apply([Web()]);
        var client = _registry.Find("web")!.HttpClient;

        _registry.Apply([Web(retries: 1, weight: 4)]);

        Assert.Same(client, _registry.Find("web")!.HttpClient);
    }

    [Fact]
    public void Apply_ConnectTimeoutChanged_NewHttpClient()
    {
        _registry.Apply([Web()]);
        var client = _registry.Find("web")!.HttpClient;

        _registry.Apply([Web(connect: TimeSpan.FromSeconds(1))]);

        Assert.NotNull(_registry.Find("web")!.HttpClient);
        Assert.NotSame(client, _registry.Find("web")!.HttpClient);
    }

    [Fact]
    public void Apply_WeightChange_UpdatesWeightOnTheSameState()
    {
        _registry.Apply([Web(weight: 1)]);
        var w1 = W1;

        _registry.Apply([Web(weight: 7)]);

        Assert.Same(w1, W1);
        Assert.Equal(7, w1.Weight);
    }

    [Fact]
    public void Apply_BackendAddressChanged_GetsNewState()
    {
        _registry.Apply([Pool("web", [Backend("w1", 8081)])]);
        var old = W1;

        _registry.Apply([Pool("web", [Backend("w1", 9091)])]);

        Assert.NotSame(old, W1);
        Assert.Equal(9091, W1.Port);
    }

    [Theory]
    [InlineData("enabled", BackendAdminState.Enabled)]
    [InlineData("draining", BackendAdminState.Draining)]
    [InlineData("disabled", BackendAdminState.Disabled)]
    public void Apply_BackendState_MapsToAdminState(string state, BackendAdminState expected)
    {
        _registry.Apply([Web()]);

        _registry.Apply([Web(state: state)]);

        Assert.Equal(expected, W1.AdminState);
        Assert.Equal(expected == BackendAdminState.Enabled, W1.IsAvailable);
    }

    [Fact]
    public void Apply_NewBackend_HealthyWithoutCheck_UnknownWithCheck()
    {
        var check = HttpCheck(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1));

        _registry.Apply([Pool("plain", [Backend("a", 1)]), Pool("checked", [Backend("b", 1)], check)]);

        Assert.Equal(BackendHealth.Healthy, _registry.Find("plain")!.Backends[0].Health);
        Assert.Equal(BackendHealth.Unknown, _registry.Find("checked")!.Backends[0].Health);
    }

    [Fact]
    public void Apply_RemovedPool_IsGone_AndPoolsChangedCarriesThePoolsInForce()
    {
        IReadOnlyCollection<PoolRuntime>? announced = null;
        _registry.PoolsChanged += pools => announced = pools;
        _registry.Apply([Web(), Pool("api", [Backend("a1", 1)])]);
        Assert.Equal(["api", "web"], announced!.Select(p => p.Name).Order());

        _registry.Apply([Pool("api", [Backend("a1", 1)])]);

        Assert.Null(_registry.Find("web"));
        Assert.Equal(["api"], announced!.Select(p => p.Name));
        Assert.Equal(["api"], _registry.Pools.Select(p => p.Name));
    }

    [Fact]
    public void Apply_TcpPool_HasNoHttpClient()
    {
        _registry.Apply([Pool("db", [Backend("d1", 5432)]) with { Protocol = "tcp" }]);

        Assert.Null(_registry.Find("db")!.HttpClient);
    }

    [Fact]
    public async Task Drain_InFlightWork_IsAbortedAfterDrainTimeout_NotBefore()
    {
        var timeout = TimeSpan.FromMilliseconds(500);
        _registry.Apply([Web(drain: timeout)]);
        var w1 = W1;
        var aborted = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Stopwatch.StartNew();
        w1.Enter();
        using var registration = _activity.Register(w1, () => aborted.TrySetResult(watch.Elapsed));

        _registry.Apply([Web(state: "draining", drain: timeout)]);

        var at = await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(at >= timeout - TimeSpan.FromMilliseconds(20), $"aborted after {at}, drainTimeout is {timeout}");
    }

    [Fact]
    public async Task Drain_BackendRemovedWithInFlightWork_IsAbortedAfterDrainTimeout()
    {
        var timeout = TimeSpan.FromMilliseconds(300);
        _registry.Apply([Web(drain: timeout)]);
        var w1 = W1;
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        w1.Enter();
        using var registration = _activity.Register(w1, () => aborted.TrySetResult());

        _registry.Apply([Pool("web", [Backend("w2", 8082)], drainTimeout: timeout)]);

        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Drain_WorkFinishesBeforeTheDeadline_EndsEarlyWithoutAbort()
    {
        var timeout = TimeSpan.FromSeconds(10);
        _registry.Apply([Web(drain: timeout)]);
        var w1 = W1;
        var aborts = 0;
        w1.Enter();
        var registration = _activity.Register(w1, () => Interlocked.Increment(ref aborts));
        var watch = Stopwatch.StartNew();

        _registry.Apply([Web(state: "draining", drain: timeout)]);
        await Task.Delay(100);
        registration.Dispose();
        w1.Leave();

        await Eventually.TrueAsync(() => _log.Entries.Any(e => e.EventId == DrainedEventId), TimeSpan.FromSeconds(3), "the drain ends once nothing is in flight");
        Assert.True(watch.Elapsed < timeout);
        Assert.Equal(0, aborts);
    }

    [Fact]
    public async Task Drain_NothingInFlight_NeverAborts()
    {
        var time = new CountingTimeProvider();
        var registry = new PoolRegistry(_activity, _log, time);
        var timeout = TimeSpan.FromMilliseconds(100);
        registry.Apply([Web(drain: timeout)]);
        var aborts = 0;
        // Registered work without InFlight: nothing is in flight as far as the pool knows.
        using var registration = _activity.Register(registry.Find("web")!.Backends.Single(b => b.Name == "w1"), () => Interlocked.Increment(ref aborts));

        registry.Apply([Web(state: "draining", drain: timeout)]);

        // No drain was started: nothing waits for a deadline, nothing was logged as draining...
        Assert.Equal(0, time.Pending);
        Assert.DoesNotContain(_log.Entries, e => e.EventId == DrainingEventId);
        // ...and well past the deadline nothing was closed.
        await time.AdvanceAsync(timeout * 10);
        Assert.Equal(0, aborts);
    }

    [Fact]
    public async Task Drain_ReEnabledBeforeTheDeadline_IsNotAborted()
    {
        var time = new CountingTimeProvider();
        var registry = new PoolRegistry(_activity, _log, time);
        var timeout = TimeSpan.FromMilliseconds(400);
        registry.Apply([Web(drain: timeout)]);
        var w1 = registry.Find("web")!.Backends.Single(b => b.Name == "w1");
        var aborts = 0;
        w1.Enter();
        using var registration = _activity.Register(w1, () => Interlocked.Increment(ref aborts));

        registry.Apply([Web(state: "draining", drain: timeout)]);
        // The drain waits for its first 100 ms tick; after it, it waits again (still draining).
        Assert.Equal((1, 1), (time.Created, time.Pending));
        await time.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        await Eventually.TrueAsync(() => time.Created == 2 && time.Pending == 1, TimeSpan.FromSeconds(5), "the drain to take its first turn and wait again");

        registry.Apply([Web(drain: timeout)]);
        // Its next turn comes past the deadline: it sees the backend enabled again and ends.
        await time.AdvanceAsync(timeout);
        await Eventually.TrueAsync(() => time.Pending == 0, TimeSpan.FromSeconds(5), "the drain to end");
        Assert.Equal(0, aborts);
        Assert.DoesNotContain(_log.Entries, e => e.EventId == DrainedEventId);
    }

    [Fact]
    public void BackendActivity_AbortAll_CallsEachRegisteredAbortOnce_AndSkipsDisposedOnes()
    {
        var backend = new BackendState("p", "b", "h", 1);
        var calls = new List<string>();
        using var first = _activity.Register(backend, () => calls.Add("first"));
        var finished = _activity.Register(backend, () => calls.Add("finished"));
        using var third = _activity.Register(backend, () => calls.Add("third"));
        finished.Dispose();

        Assert.Equal(2, _activity.AbortAll(backend));
        Assert.Equal(0, _activity.AbortAll(backend));
        Assert.Equal(["first", "third"], calls.Order());
    }
}
