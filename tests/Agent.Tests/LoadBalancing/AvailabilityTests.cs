using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

/// <summary>The rules every algorithm shares: skip what is not available, fail open, null when nothing is enabled.</summary>
public sealed class AvailabilityTests
{
    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_UnhealthyDrainingDisabled_AreSkipped(string algorithm)
    {
        var backends = TestPools.Healthy(5);
        backends[0].Health = BackendHealth.Unhealthy;
        backends[1].AdminState = BackendAdminState.Draining;
        backends[2].AdminState = BackendAdminState.Disabled;
        backends[3].Health = BackendHealth.Unknown;
        var balancer = TestPools.Create(algorithm, backends);

        for (var i = 0; i < 2_000; i++)
        {
            var picked = balancer.Pick(new PickContext((ulong)i), out var failedOpen);
            Assert.Same(backends[4], picked);
            Assert.False(failedOpen);
        }
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_AllUnhealthy_FailsOpen(string algorithm)
    {
        var backends = TestPools.Healthy(4);
        foreach (var backend in backends)
        {
            backend.Health = BackendHealth.Unhealthy;
        }
        backends[3].AdminState = BackendAdminState.Draining;
        var balancer = TestPools.Create(algorithm, backends);

        var seen = new HashSet<BackendState>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < 2_000; i++)
        {
            var picked = balancer.Pick(new PickContext((ulong)i), out var failedOpen);
            Assert.NotNull(picked);
            Assert.True(failedOpen);
            seen.Add(picked);
        }

        // Spread over every enabled backend, never the draining one.
        Assert.Equal(3, seen.Count);
        Assert.DoesNotContain(backends[3], seen);
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_NoneEnabled_ReturnsNull(string algorithm)
    {
        var backends = TestPools.Healthy(3);
        backends[0].AdminState = BackendAdminState.Disabled;
        backends[1].AdminState = BackendAdminState.Draining;
        backends[2].AdminState = BackendAdminState.Disabled;
        var balancer = TestPools.Create(algorithm, backends);

        Assert.Null(balancer.Pick(new PickContext(42), out var failedOpen));
        Assert.False(failedOpen);
        Assert.Null(balancer.Pick(PickContext.None));
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_EmptyPool_ReturnsNull(string algorithm)
    {
        var balancer = TestPools.Create(algorithm, []);

        Assert.Null(balancer.Pick(new PickContext(1)));
        Assert.Empty(balancer.Backends);
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_BackendRecovers_GetsTrafficAgainWithoutRebuild(string algorithm)
    {
        var backends = TestPools.Healthy(2);
        backends[0].Health = BackendHealth.Unhealthy;
        var balancer = TestPools.Create(algorithm, backends);
        Assert.Same(backends[1], balancer.Pick(new PickContext(7)));

        backends[0].Health = BackendHealth.Healthy;

        var seen = new HashSet<BackendState>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < 1_000; i++)
        {
            seen.Add(balancer.Pick(new PickContext((ulong)i))!);
        }
        Assert.Contains(backends[0], seen);
    }
}
