using System.Collections.Concurrent;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// One tier's compiled snapshot, serialized once and sent as is to every agent of the tier; with
/// <paramref name="Delta"/>, the change from the tier's previous snapshot, also computed once, for
/// the agents that hold that one (null when there is none or it would not be smaller).
/// </summary>
public sealed record TierSnapshot(string Tier, long Revision, string Hash, ControlPlaneMessage Message, SnapshotData? Data = null, ControlPlaneMessage? Delta = null)
{
    /// <summary>The hash an agent must hold to be sent <see cref="Delta"/>.</summary>
    public string? DeltaBase => Delta?.Delta.BaseHash;
}

/// <summary>
/// Where the publisher puts each tier's latest snapshot and where agent streams wait for it:
/// the one small seam between building snapshots and serving streams.
/// </summary>
public sealed class TierSnapshotCache : Management.ITierStatusSource
{
    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private readonly object _tiersGate = new();
    private TaskCompletionSource _tiersChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TierSnapshot? Get(string tier) => _slots.TryGetValue(tier, out var slot) ? slot.Current : null;

    (long Revision, string Hash)? Management.ITierStatusSource.Get(string tier) =>
        Get(tier) is { } snapshot ? (snapshot.Revision, snapshot.Hash) : null;

    SnapshotData? Management.ITierStatusSource.Find(string tier, string hash) =>
        _slots.TryGetValue(tier, out var slot) && slot.Find(hash) is { } snapshot ? SnapshotData.Parser.ParseFrom(snapshot.Message.Snapshot.Payload) : null;

    public IReadOnlyCollection<string> Tiers => _slots.Keys.ToList();

    /// <summary>Makes sure a tier is compiled even when it has no listener yet (an agent of it connected).</summary>
    public void Track(string tier)
    {
        if (_slots.TryAdd(tier, new Slot()))
        {
            TaskCompletionSource changed;
            lock (_tiersGate)
            {
                changed = _tiersChanged;
                _tiersChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        }
    }

    /// <summary>Completes when a tier nobody compiled yet is tracked.</summary>
    public Task TiersChanged
    {
        get
        {
            lock (_tiersGate)
            {
                return _tiersChanged.Task;
            }
        }
    }

    public void Publish(TierSnapshot snapshot)
    {
        var slot = _slots.GetOrAdd(snapshot.Tier, _ => new Slot());
        slot.Set(snapshot);
    }

    /// <summary>Waits for a snapshot of the tier that differs from <paramref name="knownHash"/>.</summary>
    public async Task<TierSnapshot> WaitForChangeAsync(string tier, string? knownHash, CancellationToken cancellationToken)
    {
        var slot = _slots.GetOrAdd(tier, _ => new Slot());
        while (true)
        {
            var (current, changed) = slot.Read();
            if (current is not null && !string.Equals(current.Hash, knownHash, StringComparison.Ordinal))
            {
                return current;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class Slot
    {
        // Recent versions, so that an agent lagging or refusing one can be compared with what is stored.
        private const int History = 16;
        private readonly object _gate = new();
        private readonly Queue<TierSnapshot> _recent = new();
        private TierSnapshot? _current;

        public TierSnapshot? Find(string hash)
        {
            lock (_gate)
            {
                return _recent.LastOrDefault(s => s.Hash == hash);
            }
        }
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TierSnapshot? Current
        {
            get
            {
                lock (_gate)
                {
                    return _current;
                }
            }
        }

        public (TierSnapshot? Current, Task Changed) Read()
        {
            lock (_gate)
            {
                return (_current, _changed.Task);
            }
        }

        public void Set(TierSnapshot snapshot)
        {
            TaskCompletionSource changed;
            lock (_gate)
            {
                _current = snapshot;
                _recent.Enqueue(snapshot);
                while (_recent.Count > History)
                {
                    _recent.Dequeue();
                }
                changed = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        }
    }
}
