using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Tests.Events;

/// <summary>Transition detection: what an agent's reports turn into, and what they must not.</summary>
public sealed class AgentEventsTests
{
    private static Dictionary<(string Pool, string Backend), string> View(params (string Pool, string Backend, string State)[] rows) =>
        rows.ToDictionary(r => (r.Pool, r.Backend), r => r.State);

    private static HealthReport Report(bool full, params (string Pool, string Backend, string State, string Reason)[] backends)
    {
        var report = new HealthReport { Full = full };
        foreach (var (pool, backend, state, reason) in backends)
        {
            report.Backends.Add(new BackendHealthReport { Pool = pool, Backend = backend, State = state, Reason = reason });
        }
        return report;
    }

    [Fact]
    public void Health_HealthyToUnhealthy_IsAWarningWithTheAgentsReason()
    {
        var drafts = AgentEvents.HealthTransitions("edge-1",
            View(("web", "web-1", "healthy"), ("web", "web-2", "healthy")),
            Report(false, ("web", "web-1", "unhealthy", "connection refused")));

        var draft = Assert.Single(drafts);
        Assert.Equal(EventDraft.Warning(EventReasons.BackendUnhealthy, EventKinds.Backend, "web-1", "edge-1", "Unhealthy in pool web: connection refused"), draft);
    }

    [Fact]
    public void Health_UnhealthyToHealthy_IsNormalBackendHealthy()
    {
        var drafts = AgentEvents.HealthTransitions("edge-1",
            View(("web", "web-1", "unhealthy"), ("web", "web-2", "healthy")),
            Report(true, ("web", "web-1", "healthy", ""), ("web", "web-2", "healthy", "")));

        Assert.Equal([EventDraft.Normal(EventReasons.BackendHealthy, EventKinds.Backend, "web-1", "edge-1", "Healthy again in pool web")], drafts);
    }

    [Fact]
    public void Health_FirstUnknownThenHealthy_AndPeriodicSummaries_AreNoEvents()
    {
        Assert.Empty(AgentEvents.HealthTransitions("edge-1", View(), Report(true, ("web", "web-1", "unknown", ""))));
        Assert.Empty(AgentEvents.HealthTransitions("edge-1", View(("web", "web-1", "unknown")), Report(false, ("web", "web-1", "healthy", ""))));
        // The summary every 10 s repeats what is known: still unhealthy is not news, even with another reason.
        Assert.Empty(AgentEvents.HealthTransitions("edge-1",
            View(("web", "web-1", "unhealthy"), ("web", "web-2", "healthy")),
            Report(true, ("web", "web-1", "unhealthy", "timeout"), ("web", "web-2", "healthy", ""))));
    }

    [Fact]
    public void Health_UnhealthyFromTheStart_IsAWarning_AndAnOddStateCountsAsUnknown()
    {
        var drafts = AgentEvents.HealthTransitions("edge-1", View(), Report(true, ("web", "web-1", "unhealthy", ""), ("web", "web-2", "bogus", ""), ("web", "web-3", "healthy", "")));

        Assert.Equal(["BackendUnhealthy:web-1:Unhealthy in pool web: no reason given"], drafts.Select(d => $"{d.Reason}:{d.Name}:{d.Message}"));
    }

    [Fact]
    public void Health_LastHealthyBackendGoes_PoolFailsOpen_AndEndsWhenOneRecovers()
    {
        var failing = AgentEvents.HealthTransitions("int-a",
            View(("api", "api-1", "unhealthy"), ("api", "api-2", "healthy"), ("web", "web-1", "healthy")),
            Report(false, ("api", "api-2", "unhealthy", "status 503")));
        Assert.Equal(
            [
                (EventTypes.Warning, EventReasons.BackendUnhealthy, EventKinds.Backend, "api-2"),
                (EventTypes.Warning, EventReasons.FailOpen, EventKinds.Pool, "api"),
            ],
            failing.Select(d => (d.Type, d.Reason, d.Kind, d.Name)));
        Assert.All(failing, d => Assert.Equal("int-a", d.Agent));

        var recovered = AgentEvents.HealthTransitions("int-a",
            View(("api", "api-1", "unhealthy"), ("api", "api-2", "unhealthy")),
            Report(false, ("api", "api-1", "healthy", "")));
        Assert.Equal([EventReasons.BackendHealthy, EventReasons.FailOpenEnded], recovered.Select(d => d.Reason));
    }

    [Fact]
    public void Listeners_FailRecoverAndRepeat()
    {
        ListenerResultRecord Ok(string name) => new(name, true, null, 5);
        ListenerResultRecord Failed(string name, string reason) => new(name, false, reason, 5);

        var failed = AgentEvents.ListenerTransitions("edge-1", [Ok("public"), Ok("admin")], [Failed("public", "port 8443 is in use"), Ok("admin")]);
        Assert.Equal([EventDraft.Warning(EventReasons.ListenerFailed, EventKinds.Listener, "public", "edge-1", "Not programmed: port 8443 is in use")], failed);

        // The ACK of the next revision repeats the failure: no news. A new reason is.
        Assert.Empty(AgentEvents.ListenerTransitions("edge-1", [Failed("public", "port 8443 is in use")], [Failed("public", "port 8443 is in use")]));
        Assert.Single(AgentEvents.ListenerTransitions("edge-1", [Failed("public", "port 8443 is in use")], [Failed("public", "permission denied")]));

        var recovered = AgentEvents.ListenerTransitions("edge-1", [Failed("public", "port 8443 is in use")], [Ok("public")]);
        Assert.Equal([EventDraft.Normal(EventReasons.ListenerProgrammed, EventKinds.Listener, "public", "edge-1", "Programmed again (it had failed: port 8443 is in use)")], recovered);

        // A listener new to the agent: failing is news, working is not.
        Assert.Single(AgentEvents.ListenerTransitions("edge-1", [], [Failed("new", "bad certificate")]));
        Assert.Empty(AgentEvents.ListenerTransitions("edge-1", [], [Ok("new")]));
    }

    [Theory]
    [InlineData("ipv4:127.0.0.1:50412", "127.0.0.1")]
    [InlineData("ipv6:[::1]:50412", "[::1]")]
    [InlineData("10.0.0.7:7400", "10.0.0.7")]
    [InlineData("::1", "::1")]
    [InlineData("", "unknown")]
    public void PeerHost_DropsTheSourcePort(string peer, string expected) => Assert.Equal(expected, AgentEvents.PeerHost(peer));
}
