using LoadBalancer.ControlPlane.Observability;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Observability;

/// <summary>lb_controlplane_push_duration_seconds: from the write that produced a revision to each ACK of it.</summary>
public sealed class PushDurationTests
{
    private readonly FixedTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero));

    // The registry is process-wide: each test measures under a tier label of its own.
    private readonly string _tier = "t-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public void AnUnrelatedWriteThenQuietThenADrain_CountsOnlyFromTheDrain()
    {
        var metrics = new ControlPlaneMetrics(_time);
        var opened = _time.Now.UtcDateTime;
        metrics.Committed(1);
        metrics.Acked(_tier, 0, 1, opened);
        var child = metrics.PushDuration.WithLabels(_tier);
        var (count, sum) = (child.Count, child.Sum);

        // An unused certificate is written (no tier changes), 15 s of quiet, then a drain.
        _time.Now += TimeSpan.FromSeconds(1);
        metrics.Committed(2);
        _time.Now += TimeSpan.FromSeconds(15);
        metrics.Committed(3);
        _time.Now += TimeSpan.FromMilliseconds(100);
        metrics.Acked(_tier, 1, 3, opened);

        Assert.Equal(count + 1, child.Count);
        Assert.Equal(0.1, child.Sum - sum, 3);
    }

    [Fact]
    public void TheSameRevisionAckedAgain_IsNotASecondPush()
    {
        var metrics = new ControlPlaneMetrics(_time);
        var opened = _time.Now.UtcDateTime;
        metrics.Committed(5);
        _time.Now += TimeSpan.FromMilliseconds(50);
        metrics.Acked(_tier, 4, 5, opened);
        metrics.Acked(_tier, 5, 5, opened);

        Assert.Equal(1, metrics.PushDuration.WithLabels(_tier).Count);
    }

    [Fact]
    public void ARevisionCommittedBeforeTheStreamOpened_IsACatchUpNotAPush()
    {
        var metrics = new ControlPlaneMetrics(_time);
        metrics.Committed(7);
        _time.Now += TimeSpan.FromSeconds(40);
        var opened = _time.Now.UtcDateTime;
        _time.Now += TimeSpan.FromMilliseconds(30);
        metrics.Acked(_tier, 2, 7, opened);

        Assert.Equal(0, metrics.PushDuration.WithLabels(_tier).Count);
    }
}
