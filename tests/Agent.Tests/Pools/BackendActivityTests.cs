using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Tests.Pools;

public sealed class BackendActivityTests
{
    private readonly BackendActivity _activity = new();
    private readonly BackendState _a = new("p", "a", "127.0.0.1", 1);
    private readonly BackendState _b = new("p", "b", "127.0.0.1", 2);

    [Fact]
    public void AbortAll_AbortsWhatIsInFlightOnThatBackendOnly_AndEachOnce()
    {
        var aborted = new List<string>();
        using var first = _activity.Register(_a, () => aborted.Add("a1"));
        var entry = new BackendActivity.Entry(() => aborted.Add("a2"));
        using var second = _activity.Register(_a, entry);
        using var other = _activity.Register(_b, () => aborted.Add("b1"));

        Assert.Equal(2, _activity.AbortAll(_a));
        Assert.Equal(["a1", "a2"], aborted.Order());
        Assert.Equal(0, _activity.AbortAll(_a));
        Assert.Equal(1, _activity.AbortAll(_b));
    }

    [Fact]
    public void EndedWork_IsNotAborted_AndAKeptEntryCanBeRegisteredAgain()
    {
        var aborts = 0;
        var entry = new BackendActivity.Entry(() => aborts++);
        for (var i = 0; i < 3; i++)
        {
            using var registration = _activity.Register(_a, entry);
        }
        Assert.Equal(0, _activity.AbortAll(_a));

        var middle = _activity.Register(_a, () => aborts += 100);
        using var kept = _activity.Register(_a, entry);
        using var last = _activity.Register(_a, () => aborts += 10);
        middle.Dispose();
        Assert.Equal(2, _activity.AbortAll(_a));
        Assert.Equal(11, aborts);
    }

    [Fact]
    public void DisposingAfterAbortAll_ChangesNothing()
    {
        var entry = new BackendActivity.Entry(() => { });
        var registration = _activity.Register(_a, entry);
        Assert.Equal(1, _activity.AbortAll(_a));
        registration.Dispose();
        using var again = _activity.Register(_a, entry);
        Assert.Equal(1, _activity.AbortAll(_a));
    }
}
