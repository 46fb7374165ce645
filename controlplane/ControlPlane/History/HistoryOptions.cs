namespace LoadBalancer.ControlPlane.History;

/// <summary>
/// How much configuration history is kept. A revision is compacted once it is older than the
/// last <see cref="Revisions"/> revisions, or (when <see cref="Days"/> is set) once a newer
/// revision is older than that too: each limit that is set applies. The current revision is
/// always kept.
/// </summary>
/// <param name="Revisions">Revisions kept; 0: no count limit.</param>
/// <param name="Days">Age limit; null: none.</param>
public sealed record HistoryOptions(int Revisions = HistoryOptions.DefaultRevisions, TimeSpan? Days = null)
{
    public const int DefaultRevisions = 1000;

    /// <summary>How often the compactor looks again when nothing was written.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Rows deleted per transaction, so a compaction never holds the write lock for long.</summary>
    public int Batch { get; init; } = 500;

    /// <summary>The oldest revision to keep when the store is at <paramref name="current"/>.</summary>
    public long OldestToKeep(long current, long? firstWithinDays)
    {
        var oldest = 0L;
        if (Revisions > 0)
        {
            oldest = Math.Max(oldest, current - Revisions + 1);
        }
        if (Days is not null)
        {
            // No write within the window: only the current revision stays.
            oldest = Math.Max(oldest, firstWithinDays ?? current);
        }
        return Math.Min(Math.Max(oldest, 0), current);
    }
}
