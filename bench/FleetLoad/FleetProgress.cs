namespace LoadBalancer.Bench.FleetLoad;

/// <summary>
/// Where the fleet stands: when every stream had its first configuration, and when each stream
/// ACKed the change being measured. Streams report here; the driver waits on it.
/// </summary>
public sealed class FleetProgress(int streams)
{
    private readonly Countdown _first = new(streams, 0);
    private Countdown? _change;

    /// <summary>Completes when every stream has received its first snapshot (or a bookmark).</summary>
    public Task AllConfigured => _first.Done.Task;

    /// <summary>Timestamps (Stopwatch) of each stream's first configuration.</summary>
    public IReadOnlyList<long> FirstConfiguredAt => _first.At;

    /// <summary>Starts watching for ACKs of a revision newer than <paramref name="afterRevision"/>; one change at a time.</summary>
    public Countdown Watch(long afterRevision) => _change = new Countdown(streams, afterRevision);

    public void Acked(FleetStream stream, long revision, long timestamp)
    {
        _first.Count(stream.Index, revision, timestamp);
        _change?.Count(stream.Index, revision, timestamp);
    }

    /// <summary>Every stream's first ACK of a revision above <see cref="AfterRevision"/>.</summary>
    public sealed class Countdown(int streams, long afterRevision)
    {
        private readonly long[] _at = new long[streams];
        private int _remaining = streams;

        public long AfterRevision { get; } = afterRevision;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<long> At => _at;

        public void Count(int index, long revision, long timestamp)
        {
            if (revision > AfterRevision && Interlocked.CompareExchange(ref _at[index], timestamp, 0) == 0 && Interlocked.Decrement(ref _remaining) == 0)
            {
                Done.TrySetResult();
            }
        }
    }
}
