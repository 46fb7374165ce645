using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// The backends that already failed one request or connection, so that every retry avoids all
/// of them, not only the last. A struct with the first entry inline: the common case (no
/// failure, or one) allocates nothing; a list appears only from the second failure on.
/// </summary>
public struct FailedBackends
{
    private BackendState? _first;
    private List<BackendState>? _more;

    public readonly bool IsEmpty => _first is null;

    public readonly int Count => _first is null ? 0 : 1 + (_more?.Count ?? 0);

    public readonly bool Contains(BackendState? backend)
    {
        if (backend is null || _first is null)
        {
            return false;
        }
        if (ReferenceEquals(backend, _first))
        {
            return true;
        }
        if (_more is not null)
        {
            foreach (var failed in _more)
            {
                if (ReferenceEquals(backend, failed))
                {
                    return true;
                }
            }
        }
        return false;
    }

    public void Add(BackendState backend)
    {
        if (Contains(backend))
        {
            return;
        }
        if (_first is null)
        {
            _first = backend;
        }
        else
        {
            (_more ??= new List<BackendState>(2)).Add(backend);
        }
    }
}
