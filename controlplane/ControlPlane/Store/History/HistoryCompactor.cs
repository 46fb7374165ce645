using LoadBalancer.ControlPlane.History;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>
/// Keeps the history within <see cref="HistoryOptions"/>: raises the horizon first (so older
/// revisions are refused from then on), then deletes the rows no kept revision needs, a
/// bounded batch per transaction so writers never wait long. Runs after writes and on a timer.
/// </summary>
public sealed partial class HistoryCompactor(
    IDbContextFactory<LbDbContext> dbFactory,
    StoreChangeFeed changeFeed,
    HistoryOptions options,
    TimeProvider time,
    ILogger<HistoryCompactor> logger) : BackgroundService
{
    /// <summary>One pass; returns the oldest revision kept afterwards.</summary>
    public async Task<long> CompactAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var current = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
        long? firstWithinDays = null;
        if (options.Days is { } days)
        {
            firstWithinDays = await HistoryQueries.FirstRevisionSinceAsync(db, time.GetUtcNow().UtcDateTime - days, cancellationToken).ConfigureAwait(false);
        }
        var target = options.OldestToKeep(current, firstWithinDays);
        if (await HistoryQueries.RaiseHorizonAsync(db, target, cancellationToken).ConfigureAwait(false))
        {
            LogHorizon(target);
        }
        var oldest = await HistoryQueries.OldestKeptAsync(db, cancellationToken).ConfigureAwait(false);
        int deleted;
        do
        {
            deleted = await HistoryQueries.DeleteUnneededAsync(db, oldest, options.Batch, cancellationToken).ConfigureAwait(false);
        }
        while (deleted > 0);
        return oldest;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var seen = changeFeed.Revision;
            try
            {
                await CompactAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The next pass tries again; history grows meanwhile, nothing is lost.
                LogFailed(ex);
            }
            try
            {
                using var timer = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timer.CancelAfter(options.Interval);
                await changeFeed.WaitAsync(seen, timer.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // The interval passed without a write: look again (a days limit moves with the clock).
            }
        }
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "History compacted: the oldest revision kept is now {Revision}")]
    private partial void LogHorizon(long revision);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "History compaction failed; retrying at the next pass")]
    private partial void LogFailed(Exception exception);
}
