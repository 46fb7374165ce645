namespace LoadBalancer.Agent.Tcp.Epoll;

/// <summary>
/// Which relay the tcp listeners use: the agent's own epoll loops (Linux, the default), one per
/// core as the runtime's socket engine has when it runs completions inline, or the runtime's
/// sockets (<c>--tcp-relay sockets</c>, and on other systems).
/// </summary>
internal sealed class TcpRelayEngine(Config.AgentOptions options, ILogger<TcpRelayEngine> logger)
{
    private readonly Lock _gate = new();
    private EpollLoop[]? _loops;
    private int _next;

    public bool UsesEpoll { get; } = options.TcpRelay == TcpRelayKind.Epoll && EpollInterop.IsSupported;

    /// <summary>The loop for a new connection (round robin), or null for the sockets relay.</summary>
    public EpollLoop? NextLoop()
    {
        if (!UsesEpoll)
        {
            return null;
        }
        var loops = Volatile.Read(ref _loops) ?? Start();
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }

    // Started with the first tcp connection: an agent without tcp listeners runs no loop thread.
    private EpollLoop[] Start()
    {
        lock (_gate)
        {
            if (_loops is null)
            {
                var loops = new EpollLoop[Math.Max(1, Environment.ProcessorCount)];
                for (var i = 0; i < loops.Length; i++)
                {
                    loops[i] = new EpollLoop(i, logger);
                }
                Volatile.Write(ref _loops, loops);
            }
            return _loops;
        }
    }
}

/// <summary>The relay of tcp listeners (<c>--tcp-relay</c>).</summary>
public enum TcpRelayKind
{
    /// <summary>The agent's own epoll loops where available (Linux on x64 or arm64), else the runtime's sockets.</summary>
    Epoll,

    /// <summary>The runtime's sockets, one async copy loop per direction.</summary>
    Sockets,
}
