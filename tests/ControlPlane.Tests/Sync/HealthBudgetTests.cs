using LoadBalancer.ControlPlane.Sync;

namespace LoadBalancer.ControlPlane.Tests.Sync;

/// <summary>The per-stream cap on health reports: a flooding agent cannot turn each report into a database write.</summary>
public sealed class HealthBudgetTests
{
    [Fact]
    public void AFlood_IsCappedPerWindow_AndTheNextWindowHasAFreshBudget()
    {
        var budget = new HealthBudget(perWindow: 20, TimeSpan.FromSeconds(10));

        // 1,000 reports within one second: only the first 20 are recorded.
        var taken = Enumerable.Range(0, 1000).Count(i => budget.TryTake(i));
        Assert.Equal(20, taken);
        Assert.Equal(980, budget.Dropped);

        // Still inside the window: refused.
        Assert.False(budget.TryTake(9_999));
        // A new window: accepted again, the drop count starts over (so the throttle is logged once per window).
        Assert.True(budget.TryTake(10_000));
        Assert.Equal(0, budget.Dropped);
    }

    [Fact]
    public void AnHonestAgent_OneSummaryEvery10SecondsPlusTransitions_IsNeverThrottled()
    {
        var budget = new HealthBudget(AgentSyncService.HealthReportsPerWindow, AgentSyncService.HealthWindow);
        // A summary every 10 s and a transition batch every second, for ten minutes.
        for (long ms = 0; ms < 600_000; ms += 1000)
        {
            Assert.True(budget.TryTake(ms), $"refused at {ms} ms");
        }
    }
}
