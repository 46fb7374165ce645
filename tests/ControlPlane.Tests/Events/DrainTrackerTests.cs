using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;

namespace LoadBalancer.ControlPlane.Tests.Events;

/// <summary>When a drain counts as finished, and that it is reported once per drain.</summary>
public sealed class DrainTrackerTests
{
    private static readonly Dictionary<string, IReadOnlyCollection<string>> Connected = new(StringComparer.Ordinal)
    {
        ["edge"] = ["edge-1", "edge-2"],
        ["internal"] = ["int-a"],
    };

    private static IReadOnlyCollection<string> ConnectedOf(string tier) => Connected.GetValueOrDefault(tier) ?? [];

    private static HealthReport InFlight(long count, string backend = "web-1", bool full = true) => new()
    {
        Full = full,
        Backends = { new BackendHealthReport { Pool = "web", Backend = backend, State = "healthy", InFlight = count } },
    };

    [Fact]
    public void Finishes_WhenEveryConnectedAgentOfTheTier_ReportsNothingInFlight_AfterApplyingTheDrain()
    {
        var tracker = new DrainTracker();
        tracker.Update([new DrainingBackend("web-1", "web", ResourceVersion: 10, Tiers: ["edge"])]);

        // edge-1 has not applied revision 10 yet: its zero proves nothing.
        Assert.Empty(tracker.Observe("edge-1", "edge", ackedRevision: 9, InFlight(0), ConnectedOf));
        Assert.Empty(tracker.Observe("edge-1", "edge", ackedRevision: 10, InFlight(0), ConnectedOf));
        Assert.Empty(tracker.Observe("edge-2", "edge", ackedRevision: 10, InFlight(2), ConnectedOf));
        // Another tier's agents do not matter.
        Assert.Empty(tracker.Observe("int-a", "internal", ackedRevision: 10, InFlight(0), ConnectedOf));

        var finished = tracker.Observe("edge-2", "edge", ackedRevision: 11, InFlight(0), ConnectedOf);
        var draft = Assert.Single(finished);
        Assert.Equal((EventTypes.Normal, EventReasons.DrainFinished, EventKinds.Backend, "web-1", ""), (draft.Type, draft.Reason, draft.Kind, draft.Name, draft.Agent));
        Assert.Equal("Nothing in flight on the 2 agent(s) of tier edge (pool web)", draft.Message);

        // Once per drain: the summaries that follow, and a store update that keeps it draining, add nothing.
        Assert.Empty(tracker.Observe("edge-1", "edge", ackedRevision: 12, InFlight(0), ConnectedOf));
        tracker.Update([new DrainingBackend("web-1", "web", ResourceVersion: 12, Tiers: ["edge"])]);
        Assert.Empty(tracker.Observe("edge-2", "edge", ackedRevision: 12, InFlight(0), ConnectedOf));
    }

    [Fact]
    public void RequestsStartingAgain_OnAnAgent_UndoItsZero()
    {
        var tracker = new DrainTracker();
        tracker.Update([new DrainingBackend("web-1", "web", 10, ["edge"])]);
        Assert.Empty(tracker.Observe("edge-1", "edge", 10, InFlight(0), ConnectedOf));
        Assert.Empty(tracker.Observe("edge-1", "edge", 10, InFlight(1), ConnectedOf));
        Assert.Empty(tracker.Observe("edge-2", "edge", 10, InFlight(0), ConnectedOf));
        Assert.Single(tracker.Observe("edge-1", "edge", 10, InFlight(0), ConnectedOf));
    }

    [Fact]
    public void AFullReportWithoutTheBackend_CountsAsNothingInFlight_APartialOneSaysNothing()
    {
        var tracker = new DrainTracker();
        tracker.Update([new DrainingBackend("web-1", "web", 10, ["internal"])]);
        Assert.Empty(tracker.Observe("int-a", "internal", 10, InFlight(3, backend: "web-2", full: false), ConnectedOf));
        Assert.Single(tracker.Observe("int-a", "internal", 10, InFlight(3, backend: "web-2", full: true), ConnectedOf));
    }

    [Fact]
    public void DrainingAgain_AfterEnable_IsANewDrain_AndOneFinishedBeforeARestartIsNotRepeated()
    {
        var tracker = new DrainTracker();
        tracker.Update([new DrainingBackend("web-1", "web", 10, ["internal"])]);
        Assert.Single(tracker.Observe("int-a", "internal", 10, InFlight(0), ConnectedOf));

        tracker.Update([]);
        Assert.False(tracker.IsTracking("web-1"));
        tracker.Update([new DrainingBackend("web-1", "web", 14, ["internal"])]);
        Assert.Empty(tracker.Observe("int-a", "internal", 13, InFlight(0), ConnectedOf));
        Assert.Single(tracker.Observe("int-a", "internal", 14, InFlight(0), ConnectedOf));

        var restarted = new DrainTracker();
        restarted.Update([new DrainingBackend("web-1", "web", 14, ["internal"], AlreadyFinished: true)]);
        Assert.Empty(restarted.Observe("int-a", "internal", 14, InFlight(0), ConnectedOf));
    }

    [Fact]
    public void APoolNoTierUses_OrATierWithoutAgents_NeverFinishes()
    {
        var tracker = new DrainTracker();
        tracker.Update([new DrainingBackend("web-1", "web", 10, []), new DrainingBackend("web-2", "web", 10, ["data"])]);
        Assert.Empty(tracker.Observe("edge-1", "edge", 10, InFlight(0), ConnectedOf));
        Assert.Empty(tracker.Observe("db-1", "data", 10, InFlight(0, backend: "web-2"), ConnectedOf));
    }
}
