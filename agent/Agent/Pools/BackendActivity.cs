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

    /// <summary>Registers work on a backend; dispose the result when it ends.</summary>
    public Registration Register(BackendState backend, Action abort) => Register(backend, new Entry(abort));

    /// <summary>
    /// Registers work with an entry its owner keeps and registers again for each of its requests
    /// (one at a time), so that a registration allocates nothing.
    /// </summary>
    public Registration Register(BackendState backend, Entry entry)
    {
        var set = _sets.GetValue(backend, static _ => new Set());
        set.Add(entry);
        return new Registration(set, entry);
    }

    /// <summary>Aborts everything still in flight on the backend; returns how many.</summary>
    public int AbortAll(BackendState backend)
    {
        if (!_sets.TryGetValue(backend, out var set))
        {
            return 0;
        }
        var aborts = set.TakeAll();
        foreach (var abort in aborts)
        {
            abort();
        }
        return aborts.Count;
    }

    public readonly struct Registration(Set set, Entry entry) : IDisposable
    {
        public void Dispose() => set.Remove(entry);
    }

    /// <summary>One piece of work in flight: a node of its backend's list.</summary>
    public sealed class Entry(Action abort)
    {
        internal Action Abort { get; } = abort;

        internal Entry? Previous { get; set; }

        internal Entry? Next { get; set; }

        internal Set? Owner { get; set; }
    }

    /// <summary>The work in flight on one backend, a doubly linked list under one lock.</summary>
    public sealed class Set
    {
        private readonly Lock _gate = new();
        private Entry? _head;

        internal void Add(Entry entry)
        {
            lock (_gate)
            {
                entry.Owner = this;
                entry.Previous = null;
                entry.Next = _head;
                if (_head is not null)
                {
                    _head.Previous = entry;
                }
                _head = entry;
            }
        }

        internal void Remove(Entry entry)
        {
            lock (_gate)
            {
                // Already taken by AbortAll.
                if (entry.Owner != this)
                {
                    return;
                }
                Unlink(entry);
            }
        }

        internal List<Action> TakeAll()
        {
            var aborts = new List<Action>();
            lock (_gate)
            {
                while (_head is { } entry)
                {
                    aborts.Add(entry.Abort);
                    Unlink(entry);
                }
            }
            return aborts;
        }

        private void Unlink(Entry entry)
        {
            if (entry.Previous is null)
            {
                _head = entry.Next;
            }
            else
            {
                entry.Previous.Next = entry.Next;
            }
            if (entry.Next is not null)
            {
                entry.Next.Previous = entry.Previous;
            }
            entry.Previous = null;
            entry.Next = null;
            entry.Owner = null;
        }
    }
}
