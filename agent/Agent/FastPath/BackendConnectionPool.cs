using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.FastPath;

/// <summary>One kept-alive HTTP/1.1 connection to a backend, with the buffer its responses are read into.</summary>
internal sealed class BackendConnection(Socket socket) : IDisposable
{
    public const int BufferSize = 16 * 1024;

    public Socket Socket { get; } = socket;

    /// <summary>Response heads are parsed here; sized for one head (a larger one is refused with 502).</summary>
    public byte[] Buffer { get; } = new byte[BufferSize];

    /// <summary>True once it has carried a request: a failure before the answer may be its idle close.</summary>
    public bool Reused { get; set; }

    public long IdleSince { get; set; }

    public void Dispose() => Socket.Dispose();

    /// <summary>
    /// Ends the exchange from another thread (drain deadline, request timeout): a shutdown first,
    /// so the backend sees the connection end at once even while a receive is pending on it.
    /// </summary>
    public void Abort()
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
        Socket.Dispose();
    }
}

/// <summary>
/// Idle kept-alive connections per backend for the fast path (most recently used first, as
/// nginx's upstream keepalive does), closed after <see cref="IdleTimeout"/> unused.
/// </summary>
internal sealed class BackendConnectionPool : IDisposable
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Idle connections kept per backend; more are closed when returned.</summary>
    public const int MaxIdlePerBackend = 256;

    private readonly ConditionalWeakTable<BackendState, Idle> _idle = [];
    private readonly List<WeakReference<Idle>> _all = [];
    private readonly Timer _sweep;

    public BackendConnectionPool()
    {
        _sweep = new Timer(static state => ((BackendConnectionPool)state!).Sweep(), this, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// An idle connection to the backend or a new one. With <paramref name="checkAlive"/> an idle
    /// connection that the backend has closed (or sent unasked bytes on) is dropped first, for
    /// requests that must not be sent on a connection that may be dying.
    /// </summary>
    public async ValueTask<BackendConnection> RentAsync(BackendState backend, TimeSpan connectTimeout, bool checkAlive)
    {
        if (_idle.TryGetValue(backend, out var idle))
        {
            var now = Environment.TickCount64;
            while (idle.TryPop(out var connection))
            {
                if (now - connection.IdleSince < (long)IdleTimeout.TotalMilliseconds
                    && (!checkAlive || !connection.Socket.Poll(0, SelectMode.SelectRead)))
                {
                    return connection;
                }
                connection.Dispose();
            }
        }
        var socket = await BackendConnector.ConnectAsync(new DnsEndPoint(backend.Host, backend.Port), connectTimeout, CancellationToken.None).ConfigureAwait(false);
        return new BackendConnection(socket);
    }

    public void Return(BackendState backend, BackendConnection connection)
    {
        connection.Reused = true;
        connection.IdleSince = Environment.TickCount64;
        var idle = _idle.GetValue(backend, Create);
        if (!idle.TryPush(connection))
        {
            connection.Dispose();
        }
    }

    private Idle Create(BackendState backend)
    {
        var idle = new Idle();
        lock (_all)
        {
            _all.Add(new WeakReference<Idle>(idle));
        }
        return idle;
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        lock (_all)
        {
            _all.RemoveAll(reference =>
            {
                if (!reference.TryGetTarget(out var idle))
                {
                    return true;
                }
                idle.CloseIdleSince(now - (long)IdleTimeout.TotalMilliseconds);
                return false;
            });
        }
    }

    public void Dispose()
    {
        _sweep.Dispose();
        lock (_all)
        {
            foreach (var reference in _all)
            {
                if (reference.TryGetTarget(out var idle))
                {
                    idle.CloseIdleSince(long.MaxValue);
                }
            }
        }
    }

    private sealed class Idle
    {
        private readonly Stack<BackendConnection> _stack = new();

        public bool TryPop(out BackendConnection connection)
        {
            lock (_stack)
            {
                return _stack.TryPop(out connection!);
            }
        }

        public bool TryPush(BackendConnection connection)
        {
            lock (_stack)
            {
                if (_stack.Count >= MaxIdlePerBackend)
                {
                    return false;
                }
                _stack.Push(connection);
                return true;
            }
        }

        public void CloseIdleSince(long before)
        {
            List<BackendConnection>? stale = null;
            lock (_stack)
            {
                if (_stack.Count == 0)
                {
                    return;
                }
                var keep = _stack.Where(c => c.IdleSince >= before).Reverse().ToList();
                if (keep.Count == _stack.Count)
                {
                    return;
                }
                stale = _stack.Where(c => c.IdleSince < before).ToList();
                _stack.Clear();
                foreach (var connection in keep)
                {
                    _stack.Push(connection);
                }
            }
            foreach (var connection in stale)
            {
                connection.Dispose();
            }
        }
    }
}
