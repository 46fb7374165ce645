using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>
/// The one writer of the Events table: folds a repeat of an identical event (same type,
/// reason, object, agent and message within <see cref="EventOptions.FoldWindow"/>) into the
/// earlier one with a higher count, keeps the table within its bounds, and wakes watchers.
/// Best effort: a failed write is logged and swallowed, so that recording an event never
/// breaks the agent stream or the write that observed it.
/// </summary>
public sealed partial class EventRecorder(
    IEventStore store,
    EventFeed feed,
    EventOptions options,
    TimeProvider time,
    ILogger<EventRecorder> logger) : IDisposable
{
    private const int MaxNameLength = 253;
    private const int MaxMessageLength = 1024;

    // In-process writes are serialized so that ids are committed, and announced, in order.
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public Task RecordAsync(EventDraft draft) => RecordAsync([draft]);

    /// <summary>Records <paramref name="drafts"/> in one transaction, in order.</summary>
    public async Task RecordAsync(IReadOnlyList<EventDraft> drafts)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        if (drafts.Count == 0)
        {
            return;
        }
        long lastId = 0;
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            lastId = await store.AppendAsync(drafts.Select(Clip).ToList(), options, time.GetUtcNow().UtcDateTime).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            Log.WriteFailed(logger, drafts.Count, ex.GetBaseException().Message);
            return;
        }
        finally
        {
            _writeLock.Release();
        }
        feed.Notify(lastId);
    }

    /// <summary>Drops what is past the age bound even when nothing new is recorded (a timer calls this).</summary>
    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.TrimAsync(options, time.GetUtcNow().UtcDateTime, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            Log.WriteFailed(logger, 0, ex.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Dispose() => _writeLock.Dispose();

    private static EventDraft Clip(EventDraft draft) => draft with
    {
        Name = Shorten(draft.Name, MaxNameLength),
        Agent = Shorten(draft.Agent, MaxNameLength),
        // Agents supply reasons and errors: keep a bounded, single-line message.
        Message = Shorten(draft.Message.ReplaceLineEndings(" "), MaxMessageLength),
    };

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 3)] + "...";

    private static partial class Log
    {
        [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Cannot record {Count} event(s): {Reason}")]
        public static partial void WriteFailed(ILogger logger, int count, string reason);
    }
}
