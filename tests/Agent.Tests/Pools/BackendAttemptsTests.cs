using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Metrics;
using LoadBalancer.Agent.Pools;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Pools;

/// <summary>The attempt loop every path (YARP, fast path, TCP) runs, and its retry rule.</summary>
public sealed class BackendAttemptsTests : IDisposable
{
    private readonly PoolRegistry _registry = new(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
    private readonly HealthMonitor _health;
    private readonly AgentMetrics _metrics = new(Prometheus.Metrics.NewCustomRegistry());

    public BackendAttemptsTests() => _health = new HealthMonitor(_registry, TimeProvider.System, NullLogger<HealthMonitor>.Instance);

    public void Dispose() => _health.Dispose();

    private PoolRuntime Apply(int retries, int backends = 3, PassiveHealthConfig? passive = null)
    {
        _registry.Apply([Pool("p", [.. Enumerable.Range(1, backends).Select(i => Backend("b" + i, 9000 + i))], retries: retries, passive: passive)]);
        return _registry.Find("p")!;
    }

    private static BackendAttempts Start(PoolRuntime pool, BackendState? sticky = null) => new(pool, pool.Balancer, PickContext.None, sticky);

    [Fact]
    public void EveryRetryAvoidsEveryBackendThatFailed_AndStopsAfterOnePlusRetries()
    {
        var pool = Apply(retries: 2);
        var attempts = Start(pool);
        var tried = new List<BackendState>();

        for (var i = 0; ; i++)
        {
            var backend = attempts.Next(_metrics, NullLogger.Instance);
            Assert.NotNull(backend);
            Assert.DoesNotContain(backend, tried);
            tried.Add(backend);
            backend.Leave();
            if (!attempts.Failed(backend, _health, "connect failed", retryAllowed: true))
            {
                break;
            }
        }

        Assert.Equal(3, tried.Count);
        Assert.All(tried, b => Assert.Equal(0, b.InFlight));
    }

    [Fact]
    public void AFailureTheRuleDoesNotRetry_EndsTheLoopAtOnce()
    {
        var attempts = Start(Apply(retries: 5));
        var backend = attempts.Next(_metrics, NullLogger.Instance)!;
        backend.Leave();

        Assert.False(attempts.Failed(backend, _health, "request failed", retryAllowed: false));
    }

    [Fact]
    public void TheStickyBackendIsTriedFirst_ThenOthers()
    {
        var pool = Apply(retries: 1);
        var sticky = pool.Backends.Single(b => b.Name == "b3");
        var attempts = Start(pool, sticky);

        var first = attempts.Next(_metrics, NullLogger.Instance)!;
        first.Leave();
        Assert.Same(sticky, first);
        Assert.True(attempts.Failed(first, _health, "connect failed", retryAllowed: true));
        var second = attempts.Next(_metrics, NullLogger.Instance)!;
        second.Leave();
        Assert.NotSame(sticky, second);
    }

    [Fact]
    public void EveryFailureCountsAgainstTheBackendsPassiveHealth()
    {
        var pool = Apply(retries: 0, backends: 1, passive: new PassiveHealthConfig(2, TimeSpan.FromMinutes(1)));
        var backend = pool.Backends.Single();

        for (var i = 0; i < 2; i++)
        {
            var attempts = Start(pool);
            Assert.Same(backend, attempts.Next(_metrics, NullLogger.Instance));
            backend.Leave();
            Assert.False(attempts.Failed(backend, _health, "connect failed", retryAllowed: true));
        }

        Assert.Equal(BackendHealth.Unhealthy, backend.Health);
    }

    [Fact]
    public void NoBackend_SaysWhy()
    {
        var pool = Apply(retries: 0, backends: 0);
        var attempts = Start(pool);

        Assert.Null(attempts.Next(_metrics, NullLogger.Instance));
        Assert.Equal("no backend available", attempts.NoBackendReason);
    }

    [Theory]
    // A failed connect never reached the backend: any request may go elsewhere, a timeout too.
    [InlineData(ForwardOutcome.ConnectFailed, false, false, false, false, true)]
    [InlineData(ForwardOutcome.ConnectFailed, true, false, false, false, true)]
    // Reached the backend, no answer: idempotent only, and not after waiting out the request timeout.
    [InlineData(ForwardOutcome.RequestFailed, false, true, false, false, true)]
    [InlineData(ForwardOutcome.RequestFailed, false, false, false, false, false)]
    [InlineData(ForwardOutcome.RequestFailed, true, true, false, false, false)]
    // Nothing can be replayed once the answer or the body started moving.
    [InlineData(ForwardOutcome.ConnectFailed, false, true, true, false, false)]
    [InlineData(ForwardOutcome.ConnectFailed, false, true, false, true, false)]
    [InlineData(ForwardOutcome.TransferFailed, false, true, false, false, false)]
    // Not the backend's failures at all.
    [InlineData(ForwardOutcome.ClientGone, false, true, false, false, false)]
    [InlineData(ForwardOutcome.Drained, false, true, false, false, false)]
    public void RetryRule(ForwardOutcome outcome, bool timedOut, bool idempotent, bool responseStarted, bool bodyRead, bool expected) =>
        Assert.Equal(expected, Agent.Pools.RetryRule.Allows(outcome, timedOut, idempotent, responseStarted, bodyRead));
}
