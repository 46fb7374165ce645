using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class ConcurrencyTests
{
    private const int Threads = 8;
    private const int PicksPerThread = 50_000;

    [Fact]
    public void Pick_RoundRobinFromManyThreads_SplitsExactlyEvenly()
    {
        var backends = TestPools.Healthy(4);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.RoundRobin, backends);

        var counts = PickConcurrently(balancer, backends);

        Assert.All(counts, count => Assert.Equal(Threads * PicksPerThread / 4, count));
    }

    [Fact]
    public void Pick_WeightedRoundRobinFromManyThreads_KeepsWeightsExactly()
    {
        var backends = TestPools.Weighted([3, 1]);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.WeightedRoundRobin, backends);

        var counts = PickConcurrently(balancer, backends);

        Assert.Equal(Threads * PicksPerThread / 4 * 3, counts[0]);
    }

    [Theory]
    [MemberData(nameof(TestPools.AllAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_ManyThreadsWhileHealthFlaps_OnlyValidBackends(string algorithm)
    {
        var backends = TestPools.Healthy(6);
        backends[5].AdminState = BackendAdminState.Disabled;
        var balancer = TestPools.Create(algorithm, backends);

        var stop = 0;
        var flapper = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                backends[1].Health = backends[1].Health == BackendHealth.Healthy ? BackendHealth.Unhealthy : BackendHealth.Healthy;
            }
        });
        flapper.Start();
        try
        {
            var counts = PickConcurrently(balancer, backends, enterAndLeave: true);
            Assert.Equal(0, counts[5]);
            Assert.Equal(Threads * PicksPerThread, counts.Sum());
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            flapper.Join();
        }
        Assert.All(backends, b => Assert.Equal(0, b.InFlight));
    }

    [Theory]
    [InlineData(LoadBalancingAlgorithms.LeastConnections)]
    [InlineData(LoadBalancingAlgorithms.WeightedLeastConnections)]
    public void Pick_LargePoolManyThreadsWhileHealthFlaps_OnlyValidBackends(string algorithm)
    {
        // Past the exact-scan size: sampled candidates, with the scan behind them.
        var backends = TestPools.Weighted(Enumerable.Range(0, 200).Select(i => 1 + (i % 3)).ToArray());
        for (var i = 0; i < backends.Length; i += 4)
        {
            backends[i].AdminState = BackendAdminState.Disabled;
        }
        var balancer = TestPools.Create(algorithm, backends);

        var stop = 0;
        var flapper = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                for (var i = 1; i < backends.Length; i += 4)
                {
                    backends[i].Health = backends[i].Health == BackendHealth.Healthy ? BackendHealth.Unhealthy : BackendHealth.Healthy;
                }
            }
        });
        flapper.Start();
        try
        {
            var counts = PickConcurrently(balancer, backends, enterAndLeave: true);
            Assert.All(Enumerable.Range(0, backends.Length).Where(i => i % 4 == 0), i => Assert.Equal(0, counts[i]));
            Assert.Equal(Threads * PicksPerThread, counts.Sum());
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            flapper.Join();
        }
        Assert.All(backends, b => Assert.Equal(0, b.InFlight));
    }

    private static int[] PickConcurrently(ILoadBalancer balancer, BackendState[] backends, bool enterAndLeave = false)
    {
        var counts = new int[backends.Length];
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var local = new int[backends.Length];
            start.SignalAndWait();
            for (var i = 0; i < PicksPerThread; i++)
            {
                var picked = balancer.Pick(new PickContext((ulong)(t * PicksPerThread + i)));
                Assert.NotNull(picked);
                if (enterAndLeave)
                {
                    picked.Enter();
                    picked.RecordLatency(TimeSpan.FromMicroseconds(100 + i % 50));
                    picked.Leave();
                }
                local[Array.IndexOf(backends, picked)]++;
            }
            for (var i = 0; i < local.Length; i++)
            {
                Interlocked.Add(ref counts[i], local[i]);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return counts;
    }
}
