namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>Each available backend in turn.</summary>
internal sealed class RoundRobinLoadBalancer : ILoadBalancer
{
    private readonly BackendState[] _backends;
    private int _next = -1;

    public RoundRobinLoadBalancer(BackendState[] backends)
    {
        _backends = backends;
    }

    public IReadOnlyList<BackendState> Backends => _backends;

    public BackendState? Pick(in PickContext context)
    {
        var backends = _backends;
        var count = backends.Length;
        if (count == 0)
        {
            return null;
        }

        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
        for (var i = 0; i < count; i++)
        {
            var candidate = backends[(start + i) % count];
            if (candidate.IsAvailable)
            {
                return candidate;
            }
        }

        // Fail open: nobody is healthy, so spread over every enabled backend.
        for (var i = 0; i < count; i++)
        {
            var candidate = backends[(start + i) % count];
            if (candidate.AdminState == BackendAdminState.Enabled)
            {
                return candidate;
            }
        }
        return null;
    }
}
