using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tests.LoadBalancing;

public sealed class AliasTableTests
{
    [Theory]
    [InlineData(new[] { 1 })]
    [InlineData(new[] { 3, 1 })]
    [InlineData(new[] { 1, 1, 1, 1 })]
    [InlineData(new[] { 1, 1000, 7, 1, 250, 3 })]
    public void Build_EveryIndex_GetsExactlyItsShare(int[] weights)
    {
        var table = new AliasTable(weights);

        double total = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
        {
            Assert.Equal(weights[i] / total, table.Probability(i), 9);
        }
    }

    [Fact]
    public void Build_ManyRandomWeights_SharesAreExact()
    {
        var random = new Random(7);
        var weights = Enumerable.Range(0, 10_000).Select(_ => random.Next(1, 1_001)).ToArray();
        var table = new AliasTable(weights);

        double total = weights.Sum();
        foreach (var i in new[] { 0, 1, 4_999, 9_999 })
        {
            Assert.Equal(weights[i] / total, table.Probability(i), 9);
        }
    }

    [Fact]
    public void Sample_ManyDraws_FollowWeights()
    {
        int[] weights = [5, 1, 3, 1];
        var table = new AliasTable(weights);
        var counts = new int[weights.Length];

        for (var i = 0; i < 100_000; i++)
        {
            counts[table.Sample((uint)Random.Shared.NextInt64())]++;
        }

        for (var i = 0; i < weights.Length; i++)
        {
            Assert.InRange(counts[i] / 100_000.0, weights[i] / 10.0 - 0.01, weights[i] / 10.0 + 0.01);
        }
    }

    [Fact]
    public void Sample_EveryRandomValue_LandsByWeight()
    {
        // Random values spread evenly over the 32 bits, as many as the test can afford: each
        // index gets its share, and the extremes stay in range.
        int[] weights = [2, 1, 1, 7, 3];
        var table = new AliasTable(weights);
        var counts = new int[weights.Length];
        const int Steps = 1 << 20;

        for (var i = 0; i < Steps; i++)
        {
            counts[table.Sample((uint)i << 12)]++;
        }

        Assert.InRange(table.Sample(0), 0, 4);
        Assert.InRange(table.Sample(uint.MaxValue), 0, 4);
        for (var i = 0; i < weights.Length; i++)
        {
            Assert.Equal(weights[i] / 14.0, counts[i] / (double)Steps, 4);
        }
    }

    [Fact]
    public void Build_WeightsBelowOne_CountAsOne()
    {
        var table = new AliasTable([0, -5, 2]);

        Assert.Equal(0.25, table.Probability(0), 9);
        Assert.Equal(0.5, table.Probability(2), 9);
    }
}
