using LoadBalancer.Agent.LoadBalancing;
using Xunit.Abstractions;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class ConsistentHashLoadBalancerTests(ITestOutputHelper output)
{
    private const int Keys = 100_000;

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_SameKey_SameBackendOnEveryAgent(string algorithm)
    {
        // Two agents build their pools independently, even in a different order.
        var first = TestPools.Create(algorithm, TestPools.Healthy(10));
        var second = TestPools.Create(algorithm, TestPools.Healthy(10).Reverse().ToArray());

        for (var key = 0UL; key < Keys; key++)
        {
            var context = new PickContext(key);
            var a = first.Pick(in context)!;
            Assert.Same(a, first.Pick(in context));
            Assert.Equal(a.Name, second.Pick(in context)!.Name);
        }
    }

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_BackendAdded_MovesAboutOneNthOfKeys(string algorithm)
    {
        var before = TestPools.Create(algorithm, TestPools.Healthy(10));
        var after = TestPools.Create(algorithm, TestPools.Healthy(11));

        var moved = MovedFraction(before, after);

        // Ideal 1/11 = 0.091 (only the keys the newcomer takes). Maglev trades a little extra
        // movement for its even spread; the bound allows 30% over the ideal.
        output.WriteLine($"{algorithm}: 10 -> 11 backends moved {moved:P2} of keys (ideal {1.0 / 11:P2})");
        Assert.InRange(moved, 1.0 / 11 * 0.9, 1.3 / 11);
    }

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_BackendRemoved_MovesAboutOneNthOfKeys(string algorithm)
    {
        var backends = TestPools.Healthy(10);
        var before = TestPools.Create(algorithm, backends);
        var after = TestPools.Create(algorithm, backends.Where(b => b.Name != "b3").ToArray());

        var moved = MovedFraction(before, after);

        output.WriteLine($"{algorithm}: 10 -> 9 backends moved {moved:P2} of keys (ideal {1.0 / 10:P2})");
        Assert.InRange(moved, 1.0 / 10 * 0.9, 1.3 / 10);
    }

    [Fact]
    public void Pick_LargePoolBackendRemoved_MovesAboutOneNthOfKeys()
    {
        var backends = TestPools.Healthy(100);
        var before = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends);
        var after = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends.Where(b => b.Name != "b42").ToArray());

        var moved = MovedFraction(before, after);

        output.WriteLine($"100 -> 99 backends moved {moved:P2} of keys (ideal 1.00%)");
        Assert.InRange(moved, 0.009, 0.013);
    }

    [Fact]
    public void Build_PoolGrowsWithinARung_TableSizeStays()
    {
        // A new size would reshuffle every key, so the size only changes at fixed pool sizes.
        Assert.Equal(MaglevTable.SizeFor(1), MaglevTable.SizeFor(65));
        Assert.Equal(MaglevTable.SizeFor(300), MaglevTable.SizeFor(10_000));
        Assert.True(MaglevTable.SizeFor(100) > 100 * 1_000);
    }

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_Weights31_KeySharesFollowWeights(string algorithm)
    {
        var backends = TestPools.Weighted([3, 1]);
        var balancer = TestPools.Create(algorithm, backends);

        var counts = TestPools.Count(balancer, Keys, withKeys: true);

        var share = counts[backends[0]] / (double)Keys;
        output.WriteLine($"{algorithm}: weight 3 of 4 got {share:P2} of keys");
        Assert.InRange(share, 0.73, 0.77);
    }

    [Fact]
    public void Pick_EqualWeights_KeysSpreadEvenly()
    {
        var backends = TestPools.Healthy(10);
        var balancer = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends);

        var counts = TestPools.Count(balancer, Keys, withKeys: true);

        Assert.All(counts.Values, count => Assert.InRange(count, Keys / 10 * 0.95, Keys / 10 * 1.05));
    }

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_BackendUnhealthy_ItsKeysMoveAndReturnOthersStay(string algorithm)
    {
        var backends = TestPools.Healthy(10);
        var balancer = TestPools.Create(algorithm, backends);
        var original = PickAll(balancer);
        var victim = backends[4];

        victim.Health = BackendHealth.Unhealthy;
        var during = PickAll(balancer);
        victim.Health = BackendHealth.Healthy;
        var after = PickAll(balancer);

        var victimKeys = 0;
        var spreadTo = new HashSet<BackendState>(ReferenceEqualityComparer.Instance);
        for (var key = 0; key < original.Length; key++)
        {
            if (original[key] == victim)
            {
                victimKeys++;
                Assert.NotSame(victim, during[key]);
                spreadTo.Add(during[key]);
            }
            else
            {
                Assert.Same(original[key], during[key]);
            }
            Assert.Same(original[key], after[key]);
        }
        Assert.InRange(victimKeys, Keys / 20, Keys / 5);
        // The victim's keys spread over the survivors rather than landing on one neighbour.
        Assert.Equal(9, spreadTo.Count);
    }

    [Fact]
    public void Pick_BackendUnhealthy_EveryAgentAgreesWhereItsKeysGo()
    {
        var first = TestPools.Healthy(10);
        var second = TestPools.Healthy(10).Reverse().ToArray();
        first[4].Health = BackendHealth.Unhealthy;
        second.Single(b => b.Name == "b4").Health = BackendHealth.Unhealthy;
        var a = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, first);
        var b = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, second);

        for (var key = 0UL; key < 10_000; key++)
        {
            var context = new PickContext(key);
            Assert.Equal(a.Pick(in context)!.Name, b.Pick(in context)!.Name);
        }
    }

    [Fact]
    public void Pick_MostOfPoolDown_StillFindsTheSurvivorsDeterministically()
    {
        var backends = TestPools.Healthy(500);
        for (var i = 1; i < backends.Length; i++)
        {
            backends[i].Health = BackendHealth.Unhealthy;
        }
        var balancer = TestPools.Create(LoadBalancingAlgorithms.ConsistentHash, backends);

        for (var key = 0UL; key < 1_000; key++)
        {
            var context = new PickContext(key);
            Assert.Same(backends[0], balancer.Pick(in context, out var failedOpen));
            Assert.False(failedOpen);
        }
    }

    [Theory]
    [MemberData(nameof(TestPools.HashAlgorithms), MemberType = typeof(TestPools))]
    public void Pick_NoHashKey_FallsBackToSpreading(string algorithm)
    {
        var backends = TestPools.Healthy(4);
        var balancer = TestPools.Create(algorithm, backends);

        var counts = TestPools.Count(balancer, 4_000);

        Assert.All(counts.Values, count => Assert.InRange(count, 800, 1_200));
    }

    [Fact]
    public void Create_HashOnChangedOnly_ReusesTheTable()
    {
        var backends = TestPools.Healthy(10);
        var first = (ConsistentHashLoadBalancer)LoadBalancerFactory.Create(
            new LoadBalancingOptions(LoadBalancingAlgorithms.ConsistentHash, "header X-User"), backends, null);
        var second = (ConsistentHashLoadBalancer)LoadBalancerFactory.Create(
            new LoadBalancingOptions(LoadBalancingAlgorithms.ConsistentHash, "cookie session"), backends, first);

        Assert.NotSame(first, second);
        Assert.Same(first.Table, second.Table);
    }

    private static BackendState[] PickAll(ILoadBalancer balancer)
    {
        var picks = new BackendState[Keys];
        for (var key = 0; key < Keys; key++)
        {
            picks[key] = balancer.Pick(new PickContext((ulong)key))!;
        }
        return picks;
    }

    private static double MovedFraction(ILoadBalancer before, ILoadBalancer after)
    {
        var moved = 0;
        for (var key = 0UL; key < Keys; key++)
        {
            var context = new PickContext(key);
            if (before.Pick(in context)!.Name != after.Pick(in context)!.Name)
            {
                moved++;
            }
        }
        return moved / (double)Keys;
    }
}
