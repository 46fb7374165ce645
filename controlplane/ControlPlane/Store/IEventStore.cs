using LoadBalancer.ControlPlane.Events;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>The bounded table of events: appended with folding of repeats, read forwards by id.</summary>
public interface IEventStore
{
    /// <summary>
    /// Appends <paramref name="drafts"/> in one transaction, in order, folding a repeat within
    /// <see cref="EventOptions.FoldWindow"/> into a new row with a higher count, then trims to
    /// the bounds. Returns the id of the last row written.
    /// </summary>
    Task<long> AppendAsync(IReadOnlyList<EventDraft> drafts, EventOptions options, DateTime now, CancellationToken cancellationToken = default);

    /// <summary>Drops what is past the bounds of <paramref name="options"/>.</summary>
    Task TrimAsync(EventOptions options, DateTime now, CancellationToken cancellationToken = default);

    /// <summary>The first <paramref name="limit"/> matches with an id above <paramref name="afterId"/>, oldest first.</summary>
    Task<IReadOnlyList<EventEntity>> ListAfterAsync(EventFilter filter, long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The newest <paramref name="limit"/> matches, oldest first.</summary>
    Task<IReadOnlyList<EventEntity>> ListNewestAsync(EventFilter filter, int limit, CancellationToken cancellationToken = default);

    /// <summary>Whether a DrainFinished event of the backend was recorded at or after <paramref name="since"/>.</summary>
    Task<bool> DrainFinishedSinceAsync(string backend, DateTime since, CancellationToken cancellationToken = default);
}
