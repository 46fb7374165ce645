using Microsoft.Extensions.Time.Testing;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also counts the timers made on it and those still
/// pending, so that a test can tell when a loop waiting on it has taken its turn (it made its
/// next timer) or has ended (none pending), instead of sleeping and hoping.
/// </summary>
internal sealed class CountingTimeProvider : TimeProvider
{
    private readonly FakeTimeProvider _fake = new();
    private int _created;
    private int _pending;

    /// <summary>Timers made so far (each Task.Delay on this provider makes one).</summary>
    public int Created => Volatile.Read(ref _created);

    /// <summary>Timers made and not disposed yet (a Task.Delay disposes its own once it fires).</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>
    /// Moves the clock on, firing the timers that fall due. Run on the thread pool, where there is
    /// no SynchronizationContext (xunit sets one on the test's thread): a Task.Delay's continuation
    /// then runs inline in the timer's callback, so the turn of a loop waiting on it (up to its
    /// next real wait) is over when this completes.
    /// </summary>
    public Task AdvanceAsync(TimeSpan delta) => Task.Run(() => _fake.Advance(delta));

    public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();

    public override long GetTimestamp() => _fake.GetTimestamp();

    public override long TimestampFrequency => _fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _fake.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _created);
        Interlocked.Increment(ref _pending);
        return new CountedTimer(_fake.CreateTimer(callback, state, dueTime, period), this);
    }

    private sealed class CountedTimer(ITimer inner, CountingTimeProvider owner) : ITimer
    {
        private int _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._pending);
            }
            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
