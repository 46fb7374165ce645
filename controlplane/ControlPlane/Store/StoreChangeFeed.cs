namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// The one seam between writers and the snapshot publisher: writers call <see cref="Notify"/>
/// after a commit; the publisher waits for a revision newer than the one it compiled.
/// </summary>
public sealed class StoreChangeFeed
{
    private readonly object _gate = new();
    private long _revision;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Revision => Interlocked.Read(ref _revision);

    public void Notify(long revision)
    {
        TaskCompletionSource toComplete;
        lock (_gate)
        {
            if (revision <= _revision)
            {
                return;
            }
            _revision = revision;
            toComplete = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        toComplete.TrySetResult();
    }

    /// <summary>Completes with the current revision once it is greater than <paramref name="afterRevision"/>.</summary>
    public async Task<long> WaitAsync(long afterRevision, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_revision > afterRevision)
                {
                    return _revision;
                }
                wait = _changed.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
