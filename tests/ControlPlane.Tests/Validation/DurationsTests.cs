using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("2s", 2000)]
    [InlineData("1m", 60_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5s", 1500)]
    [InlineData("0s", 0)]
    [InlineData("90d", 7_776_000_000L)]
    public void TryParse_ValidDuration_ReturnsMilliseconds(string text, long expectedMs)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(expectedMs, (long)value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1s")]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("2 s")]
    [InlineData("1S")]
    [InlineData("abc")]
    [InlineData("1..2s")]
    [InlineData("100000h")]
    [InlineData("1w")]
    [InlineData("366d")]
    public void TryParse_Garbage_IsRejected(string text)
    {
        Assert.False(Durations.TryParse(text, out _));
    }

    [Fact]
    public void ToMilliseconds_Empty_UsesFallback()
    {
        Assert.Equal(30_000, Durations.ToMilliseconds("", 30_000));
    }

    [Theory]
    [InlineData("200-399", 1)]
    [InlineData("200,204,300-399", 3)]
    public void StatusRanges_Valid_Parses(string text, int count)
    {
        Assert.True(StatusRanges.TryParse(text, out var ranges));
        Assert.Equal(count, ranges.Count);
    }

    [Theory]
    [InlineData("99")]
    [InlineData("600")]
    [InlineData("399-200")]
    [InlineData("2xx")]
    [InlineData("200,")]
    public void StatusRanges_Invalid_IsRejected(string text)
    {
        Assert.False(StatusRanges.TryParse(text, out _));
    }
}
