using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Listeners;

namespace LoadBalancer.Agent.Tcp;

/// <summary>
/// A tcp listener's own accept loop, in place of a Kestrel server: the relay reads and writes
/// the client's socket itself, so bytes go socket to socket without Kestrel's transport pipes,
/// its per-connection feature collection or a thread-pool hop per read. It keeps the lifecycle
/// of a Kestrel listener: it binds when started (a bind failure is thrown to the caller), and a
/// stop closes the listening socket, lets open connections finish until the caller's token
/// fires, then closes what is left. One timer per listener closes idle connections and counts
/// the bytes moved, instead of a timer per connection.
/// </summary>
internal sealed partial class TcpListenerServer : IDisposable
{
    private const int Backlog = 512;
    private static readonly TimeSpan LongestSweepPeriod = TimeSpan.FromSeconds(1);

    private readonly Socket _listenSocket;
    private readonly ListenerState _state;
    private readonly TcpProxyHandler _handler;
    private readonly ILogger _logger;
    private readonly HashSet<TcpRelayConnection> _open = new(ReferenceEqualityComparer.Instance);
    private readonly Timer _sweep;
    private readonly Task _acceptLoop;
    private TimeSpan _sweepPeriod = LongestSweepPeriod;
    private TaskCompletionSource? _allClosed;
    private bool _stopping;

    private TcpListenerServer(Socket listenSocket, ListenerState state, TcpProxyHandler handler, ILogger logger)
    {
        _listenSocket = listenSocket;
        _state = state;
        _handler = handler;
        _logger = logger;
        _sweep = new Timer(static s => ((TcpListenerServer)s!).Sweep(), this, LongestSweepPeriod, LongestSweepPeriod);
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Binds and starts accepting; throws the <see cref="SocketException"/> of a failed bind.</summary>
    public static TcpListenerServer Start(IPAddress address, int port, ListenerState state, TcpProxyHandler handler, ILogger logger)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                // As Kestrel binds [::]: IPv4 clients too.
                socket.DualMode = true;
            }
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(Backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new TcpListenerServer(socket, state, handler, logger);
    }

    /// <summary>Makes the sweep run often enough for this idle timeout (a quarter of it, 50 ms to 1 s).</summary>
    public void NoteIdleTimeout(TimeSpan idleTimeout)
    {
        if (idleTimeout <= TimeSpan.Zero)
        {
            return;
        }
        var period = TimeSpan.FromMilliseconds(Math.Clamp(idleTimeout.TotalMilliseconds / 4, 50, LongestSweepPeriod.TotalMilliseconds));
        lock (_open)
        {
            if (period >= _sweepPeriod || _stopping)
            {
                return;
            }
            _sweepPeriod = period;
            _sweep.Change(period, period);
        }
    }

    /// <summary>Stops accepting, waits for the open connections until <paramref name="cancellationToken"/> fires, then closes them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task allClosed;
        lock (_open)
        {
            _stopping = true;
            _allClosed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_open.Count == 0)
            {
                _allClosed.TrySetResult();
            }
            allClosed = _allClosed.Task;
        }
        _listenSocket.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        try
        {
            await allClosed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Grace period over: what is still open is closed by Dispose.
        }
    }

    public void Dispose()
    {
        List<TcpRelayConnection> open;
        lock (_open)
        {
            _stopping = true;
            open = [.. _open];
        }
        _sweep.Dispose();
        _listenSocket.Dispose();
        foreach (var connection in open)
        {
            connection.Abort();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listenSocket.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ObjectDisposedException || (ex is SocketException && Volatile.Read(ref _stopping)))
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of file descriptors and the like: the listener stays, the next accept may work.
                Log.AcceptFailed(_logger, _state.Config.Name, ex.Message);
                await Task.Delay(50).ConfigureAwait(false);
                continue;
            }
            client.NoDelay = true;
            var connection = new TcpRelayConnection(client, this, _handler.NextLoop());
            if (!Track(connection))
            {
                client.Dispose();
                continue;
            }
            _ = RunAsync(connection);
        }
    }

    private async Task RunAsync(TcpRelayConnection connection)
    {
        try
        {
            await _handler.HandleAsync(connection, _state).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_logger, _state.Config.Name, ex);
        }
        finally
        {
            connection.Abort();
            Untrack(connection);
        }
    }

    private bool Track(TcpRelayConnection connection)
    {
        lock (_open)
        {
            return !_stopping && _open.Add(connection);
        }
    }

    private void Untrack(TcpRelayConnection connection)
    {
        lock (_open)
        {
            _open.Remove(connection);
            if (_open.Count == 0)
            {
                _allClosed?.TrySetResult();
            }
        }
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        List<TcpRelayConnection>? idle = null;
        lock (_open)
        {
            foreach (var connection in _open)
            {
                connection.CountBytes();
                if (connection.IsIdle(now))
                {
                    (idle ??= []).Add(connection);
                }
            }
        }
        if (idle is null)
        {
            return;
        }
        // Closed outside the lock: closing sockets is a system call per socket.
        foreach (var connection in idle)
        {
            connection.Abort();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Listener {Listener}: accepting a connection failed: {Reason}")]
        public static partial void AcceptFailed(ILogger logger, string listener, string reason);

        [LoggerMessage(EventId = 7004, Level = LogLevel.Error, Message = "Listener {Listener}: a tcp connection failed")]
        public static partial void ConnectionFailed(ILogger logger, string listener, Exception exception);
    }
}
