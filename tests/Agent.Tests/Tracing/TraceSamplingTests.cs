using System.Diagnostics;
using LoadBalancer.Agent.Tracing;

namespace LoadBalancer.Agent.Tests.Tracing;

public sealed class TraceSamplingTests
{
    private const string Sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    private const string NotSampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void ShouldRecord_SampledParent_ContinuesItWhateverTheRatio(double ratio)
    {
        Assert.True(TraceSampling.ShouldRecord(Sampled, "vendor=x", ratio, draw: 0.99, out var parent));
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", parent.TraceId.ToHexString());
        Assert.Equal("b7ad6b7169203331", parent.SpanId.ToHexString());
        Assert.Equal("vendor=x", parent.TraceState);
        Assert.True(parent.IsRemote);
    }

    [Fact]
    public void ShouldRecord_UnsampledParent_IsNotRecordedEvenAtRatioOne()
    {
        // Parent-based: one hop deciding otherwise would leave holes in the caller's trace.
        Assert.False(TraceSampling.ShouldRecord(NotSampled, null, 1.0, draw: 0.0, out _));
    }

    [Theory]
    [InlineData(null, 0.0, 0.0, false)]
    [InlineData(null, 1.0, 0.999, true)]
    [InlineData(null, 0.25, 0.2, true)]
    [InlineData(null, 0.25, 0.3, false)]
    [InlineData("garbage", 1.0, 0.5, true)]
    [InlineData("garbage", 0.0, 0.0, false)]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01", 0.0, 0.0, false)]
    public void ShouldRecord_WithoutValidParent_TheListenerRatioDecides(string? traceparent, double ratio, double draw, bool expected)
    {
        Assert.Equal(expected, TraceSampling.ShouldRecord(traceparent, null, ratio, draw, out var parent));
        Assert.Equal(default, parent);
    }
}
