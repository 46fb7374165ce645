using LoadBalancer.ControlPlane.History;

namespace LoadBalancer.ControlPlane.Tests.History;

public sealed class HistoryOptionsTests
{
    [Theory]
    [InlineData(1000, 50, 0)]
    [InlineData(1000, 1500, 501)]
    [InlineData(10, 10, 1)]
    [InlineData(0, 5000, 0)]
    public void OldestToKeep_ByCount(int revisions, long current, long expected) =>
        Assert.Equal(expected, new HistoryOptions(revisions).OldestToKeep(current, firstWithinDays: null));

    [Fact]
    public void OldestToKeep_BothLimitsApply_TheStricterWins()
    {
        var options = new HistoryOptions(100, TimeSpan.FromDays(7));
        Assert.Equal(901, options.OldestToKeep(1000, firstWithinDays: 950 - 100));
        Assert.Equal(950, options.OldestToKeep(1000, firstWithinDays: 950));
    }

    [Fact]
    public void OldestToKeep_NoWriteWithinTheDays_KeepsOnlyTheCurrentRevision() =>
        Assert.Equal(40, new HistoryOptions(0, TimeSpan.FromDays(1)).OldestToKeep(40, firstWithinDays: null));
}
