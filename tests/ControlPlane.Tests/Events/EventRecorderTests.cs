using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancer.ControlPlane.Tests.Events;

/// <summary>Folding of repeats, the count and age bounds, and the feed that wakes watchers, on a real migrated store.</summary>
public sealed class EventRecorderTests : IAsyncLifetime
{
    private static readonly EventDraft Down = EventDraft.Warning(EventReasons.BackendUnhealthy, EventKinds.Backend, "web-1", "edge-1", "Unhealthy in pool web: status 503");

    private StoreFixture _store = null!;
    private readonly EventFeed _feed = new();

    public async Task InitializeAsync() => _store = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private EventRecorder Recorder(EventOptions? options = null) =>
        new(_store.Events, _feed, options ?? new EventOptions(), _store.Clock, NullLogger<EventRecorder>.Instance);

    private Task<List<EventEntity>> RowsAsync() => _store.WithDbAsync(db => db.Events.AsNoTracking().OrderBy(e => e.Id).ToListAsync());

    [Fact]
    public async Task Repeat_WithinWindow_FoldsIntoOne_WithCountFirstSeenAndAHigherId()
    {
        using var recorder = Recorder();
        var first = _store.Clock.Now;
        await recorder.RecordAsync(Down);
        var firstId = Assert.Single(await RowsAsync()).Id;

        _store.Clock.Now = first.AddMinutes(3);
        await recorder.RecordAsync(Down);
        _store.Clock.Now = first.AddMinutes(6);
        await recorder.RecordAsync(Down);

        var row = Assert.Single(await RowsAsync());
        Assert.Equal(3, row.Count);
        Assert.Equal(first.UtcDateTime, row.FirstAt, TimeSpan.FromMilliseconds(1));
        Assert.Equal(first.AddMinutes(6).UtcDateTime, row.LastAt, TimeSpan.FromMilliseconds(1));
        // Watchers only look forward: the folded event moved to a new id, and the feed says so.
        Assert.True(row.Id > firstId);
        Assert.Equal(row.Id, _feed.LastId);
    }

    [Fact]
    public async Task Repeat_InOneBatch_FoldsToo()
    {
        using var recorder = Recorder();
        await recorder.RecordAsync([Down, Down]);

        Assert.Equal(2, Assert.Single(await RowsAsync()).Count);
    }

    [Fact]
    public async Task DifferentMessageAgentOrReason_AreSeparateEvents()
    {
        using var recorder = Recorder();
        await recorder.RecordAsync(Down);
        await recorder.RecordAsync(Down with { Message = "Unhealthy in pool web: timeout" });
        await recorder.RecordAsync(Down with { Agent = "edge-2" });
        await recorder.RecordAsync(EventDraft.Normal(EventReasons.BackendHealthy, EventKinds.Backend, "web-1", "edge-1", "Healthy again in pool web"));

        var rows = await RowsAsync();
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Equal(1, r.Count));
    }

    [Fact]
    public async Task Repeat_AfterTheWindow_IsANewEvent()
    {
        using var recorder = Recorder(new EventOptions { FoldWindow = TimeSpan.FromMinutes(10) });
        await recorder.RecordAsync(Down);
        _store.Clock.Now = _store.Clock.Now.AddMinutes(11);
        await recorder.RecordAsync(Down);

        Assert.Equal([1, 1], (await RowsAsync()).Select(r => r.Count));
    }

    [Fact]
    public async Task Bound_KeepsTheNewestMaxCount()
    {
        using var recorder = Recorder(new EventOptions { MaxCount = 5 });
        for (var i = 0; i < 8; i++)
        {
            await recorder.RecordAsync(Down with { Name = $"web-{i}" });
        }

        Assert.Equal(["web-3", "web-4", "web-5", "web-6", "web-7"], (await RowsAsync()).Select(r => r.Name));
    }

    [Fact]
    public async Task Bound_DropsEventsOlderThanMaxAge_OnWriteAndOnPrune()
    {
        using var recorder = Recorder(new EventOptions { MaxAge = TimeSpan.FromDays(7) });
        await recorder.RecordAsync(Down with { Name = "old" });
        _store.Clock.Now = _store.Clock.Now.AddDays(6);
        await recorder.RecordAsync(Down with { Name = "recent" });
        _store.Clock.Now = _store.Clock.Now.AddDays(1.5);
        await recorder.RecordAsync(Down with { Name = "new" });
        Assert.Equal(["recent", "new"], (await RowsAsync()).Select(r => r.Name));

        // Nothing new for a week: the timer's prune still empties the table.
        _store.Clock.Now = _store.Clock.Now.AddDays(8);
        await recorder.PruneAsync(CancellationToken.None);
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task LongMessages_AreClippedToOneBoundedLine()
    {
        using var recorder = Recorder();
        await recorder.RecordAsync(Down with { Message = "first line\nsecond line " + new string('x', 5000) });

        var message = Assert.Single(await RowsAsync()).Message;
        Assert.True(message.Length <= 1024, $"{message.Length} characters");
        Assert.StartsWith("first line second line", message, StringComparison.Ordinal);
        Assert.EndsWith("...", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Feed_WakesAWaiter_WhenAnEventIsCommitted()
    {
        using var recorder = Recorder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var waiting = _feed.WaitAsync(0, timeout.Token);
        Assert.False(waiting.IsCompleted);

        await recorder.RecordAsync(Down);

        Assert.Equal(Assert.Single(await RowsAsync()).Id, await waiting);
    }
}
