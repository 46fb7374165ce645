using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// The requests and connections in flight on each backend, so that a drain can close what is
/// left once drainTimeout is over (in-flight work is otherwise left to finish).
/// </summary>
public sealed class BackendActivity
{
    private readonly ConditionalWeakTable<BackendState, Set> _sets = [];
    private long _nextId;

    /// <summary>Registers work on a backend; dispose the result when it ends.</summary>
    public Registration Register(BackendState backend, Action abort)
    {
        var set = _sets.GetValue(backend, static _ => new Set());
        var id = Interlocked.Increment(ref _nextId);
        set.Items[id] = abort;
        return new Registration(set, id);
    }

    /// <summary>Aborts everything still in flight on the backend; returns how many.</summary>
    public int AbortAll(BackendState backend)
    {
        if (!_sets.TryGetValue(backend, out var set))
        {
            return 0;
        }
        var count = 0;
        foreach (var (id, abort) in set.Items)
        {
            if (set.Items.TryRemove(id, out _))
            {
                abort();
                count++;
            }
        }
        return count;
    }

    public readonly struct Registration(Set set, long id) : IDisposable
    {
        public void Dispose() => set.Items.TryRemove(id, out _);
    }

    public sealed class Set
    {
        internal ConcurrentDictionary<long, Action> Items { get; } = new();
    }
}
