using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Routing;

namespace LoadBalancer.Agent.Tests.Routing;

public sealed class WeightedPoolsTests
{
    private static readonly WeightedPoolConfig[] Split = [new("blue", 90), new("green", 0), new("canary", 10)];

    [Theory]
    [InlineData(0, "blue")]
    [InlineData(89, "blue")]
    [InlineData(90, "canary")]
    [InlineData(99, "canary")]
    public void Pick_EachPoolOwnsItsShareOfTheTickets_WeightZeroOwnsNone(int ticket, string expected) =>
        Assert.Equal(expected, WeightedPools.Pick(Split, ticket));

    [Fact]
    public void Pick_BeyondTheSum_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightedPools.Pick(Split, 100));
}
