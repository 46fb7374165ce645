using System.Data.Common;
using LoadBalancer.ControlPlane.Store;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>
/// The one writer of the Events table: folds a repeat of an identical event (same type,
/// reason, object, agent and message within <see cref="EventOptions.FoldWindow"/>) into the
/// earlier one with a higher count, keeps the table within its bounds, and wakes watchers.
/// Best effort: a failed write is logged and swallowed, so that recording an event never
/// breaks the agent stream or the write that observed it.
/// </summary>
public sealed partial class EventRecorder(
    IDbContextFactory<LbDbContext> dbFactory,
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
            await using var db = await dbFactory.CreateDbContextAsync().ConfigureAwait(false);
            await using var transaction = await db.Database.BeginTransactionAsync().ConfigureAwait(false);
            var now = time.GetUtcNow().UtcDateTime;
            var foldFrom = now - options.FoldWindow;
            foreach (var draft in drafts.Select(Clip))
            {
                var previous = await db.Events
                    .Where(e => e.Kind == draft.Kind && e.Name == draft.Name && e.Reason == draft.Reason && e.Type == draft.Type
                        && e.Agent == draft.Agent && e.Message == draft.Message && e.LastAt >= foldFrom)
                    .OrderByDescending(e => e.Id)
                    .FirstOrDefaultAsync()
                    .ConfigureAwait(false);
                var row = new EventEntity
                {
                    Type = draft.Type,
                    Reason = draft.Reason,
                    Kind = draft.Kind,
                    Name = draft.Name,
                    Agent = draft.Agent,
                    Message = draft.Message,
                    Count = previous is null ? 1 : previous.Count + 1,
                    FirstAt = previous?.FirstAt ?? now,
                    LastAt = now,
                };
                db.Events.Add(row);
                if (previous is not null)
                {
                    // A new id rather than an update in place: watchers only look forward.
                    db.Events.Remove(previous);
                }
                // Saved per draft, so a repeat later in the same batch folds into this one.
                await db.SaveChangesAsync().ConfigureAwait(false);
                lastId = row.Id;
            }
            await TrimAsync(db, now).ConfigureAwait(false);
            await transaction.CommitAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DbException or DbUpdateException)
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
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            await TrimAsync(db, time.GetUtcNow().UtcDateTime).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            Log.WriteFailed(logger, 0, ex.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Dispose() => _writeLock.Dispose();

    private async Task TrimAsync(LbDbContext db, DateTime now)
    {
        var expired = now - options.MaxAge;
        await db.Events.Where(e => e.LastAt < expired).ExecuteDeleteAsync().ConfigureAwait(false);
        // Ids increase with every write, so the newest MaxCount rows are the highest ids.
        var oldestKept = await db.Events.OrderByDescending(e => e.Id).Skip(options.MaxCount - 1).Select(e => (long?)e.Id).FirstOrDefaultAsync().ConfigureAwait(false);
        if (oldestKept is { } id)
        {
            await db.Events.Where(e => e.Id < id).ExecuteDeleteAsync().ConfigureAwait(false);
        }
    }

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
