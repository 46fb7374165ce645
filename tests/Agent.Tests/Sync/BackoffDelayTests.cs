using LoadBalancer.Agent.Sync;

namespace LoadBalancer.Agent.Tests.Sync;

/// <summary>The reconnect delay: capped exponential with equal jitter.</summary>
public sealed class BackoffDelayTests
{
    [Theory]
    [InlineData(1, 250, 500)]
    [InlineData(2, 500, 1000)]
    [InlineData(3, 1000, 2000)]
    [InlineData(5, 4000, 8000)]
    [InlineData(6, 5000, 10000)]
    [InlineData(1000, 5000, 10000)]
    public void Delay_LiesInTheUpperHalfOfTheCappedStep(int failures, double lowMs, double highMs)
    {
        // random 0 gives the floor (half the step), random near 1 the step itself.
        Assert.Equal(lowMs, SyncClient.BackoffDelay(failures, 0).TotalMilliseconds);
        Assert.Equal(highMs, SyncClient.BackoffDelay(failures, 1).TotalMilliseconds);
        Assert.InRange(SyncClient.BackoffDelay(failures, 0.5).TotalMilliseconds, lowMs, highMs);
    }

    [Fact]
    public void Delay_NeverExceeds10Seconds_AndGrowsWithFailures()
    {
        var floors = Enumerable.Range(1, 20).Select(f => SyncClient.BackoffDelay(f, 0)).ToList();
        Assert.All(Enumerable.Range(1, 20), f => Assert.True(SyncClient.BackoffDelay(f, 0.999) <= TimeSpan.FromSeconds(10)));
        Assert.True(floors.Zip(floors.Skip(1)).All(p => p.First <= p.Second), "non-decreasing");
    }
}
