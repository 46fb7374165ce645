using System.Buffers;
using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tcp.Epoll;

namespace LoadBalancer.Agent.Tcp;

/// <summary>
/// One client connection of a tcp listener and, once connected, its backend: copies bytes
/// socket to socket both ways until both sides have closed, passing a half-close on in each
/// direction. What the listener's sweep reads (last activity, bytes not yet counted) lives here,
/// so a connection needs no timer of its own.
/// </summary>
/// <remarks>
/// Two relays share this state and these rules. With an <see cref="EpollLoop"/> (the default on
/// Linux) the loop thread does the connect, the copying and every close (<c>TcpRelayConnection.Epoll.cs</c>);
/// without one, an async copy loop per direction runs on the runtime's sockets.
/// </remarks>
internal sealed partial class TcpRelayConnection
{
    // Buffers grow with the traffic: an interactive connection (a database session, redis) reads
    // small messages and keeps a small buffer per direction however long it stays open; a read
    // that fills its buffer moves that direction up a size, so a bulk transfer soon copies 64 KiB
    // per system call.
    private const int FirstBufferSize = 4 * 1024;
    private const int LargestBufferSize = 64 * 1024;

    private readonly EpollLoop? _loop;
    private Socket? _backend;
    private int _closed;
    private long _lastActivity = Environment.TickCount64;
    private long _uncountedToBackend;
    private long _uncountedToClient;
    private Metrics.AgentMetrics.TcpChildren? _counters;
    private byte[]? _preamble;

    public TcpRelayConnection(Socket client, TcpListenerServer owner, EpollLoop? loop)
    {
        Client = client;
        Owner = owner;
        _loop = loop;
        Abort = loop is null ? Close : RequestAbort;
        if (loop is not null)
        {
            // The loop reads and writes with MSG_DONTWAIT and never through the runtime's socket
            // engine, so the socket is never registered with the runtime's epoll set.
            client.Blocking = false;
            _clientFd = (int)client.SafeHandle.DangerousGetHandle();
        }
    }

    public Socket Client { get; }

    public TcpListenerServer Owner { get; }

    /// <summary>Closes both sides at once (drain, idle timeout, listener stop); safe to call at any time, from any thread.</summary>
    public Action Abort { get; }

    /// <summary>Idle timeout in milliseconds; zero for none.</summary>
    public long IdleTimeoutMs { get; private set; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>True when nothing moved either way for the idle timeout.</summary>
    public bool IsIdle(long now) => IdleTimeoutMs > 0 && now - Volatile.Read(ref _lastActivity) >= IdleTimeoutMs;

    /// <summary>
    /// Reads the client's PROXY protocol header within <paramref name="timeout"/>, leaving the
    /// client's own bytes after it in the socket for the relay.
    /// </summary>
    public ValueTask<ProxyProtocol.ProxyHeaderRead> ReadProxyHeaderAsync(TimeSpan timeout) =>
        _loop is null ? ReadProxyHeaderWithSocketAsync(timeout) : ReadHeaderOnLoopAsync(timeout);

    private async ValueTask<ProxyProtocol.ProxyHeaderRead> ReadProxyHeaderWithSocketAsync(TimeSpan timeout)
    {
        var reader = new ProxyProtocol.ProxyHeaderReader();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var peeked = await Client.ReceiveAsync(reader.Buffer.AsMemory(reader.Have, reader.Room), SocketFlags.Peek, deadline.Token).ConfigureAwait(false);
                if (peeked == 0)
                {
                    return ProxyProtocol.ProxyHeaderRead.Closed;
                }
                var status = reader.Offer(peeked, out var consume, out var header);
                if (status == ProxyProtocol.ProxyHeaderStatus.Invalid)
                {
                    return ProxyProtocol.ProxyHeaderRead.Invalid;
                }
                var offset = reader.Have - consume;
                while (consume > 0)
                {
                    // Peeked already, so these return at once.
                    var read = await Client.ReceiveAsync(reader.Buffer.AsMemory(offset, consume), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return ProxyProtocol.ProxyHeaderRead.Closed;
                    }
                    offset += read;
                    consume -= read;
                }
                if (status == ProxyProtocol.ProxyHeaderStatus.Complete)
                {
                    return ProxyProtocol.ProxyHeaderRead.Of(header!);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return ProxyProtocol.ProxyHeaderRead.TimedOut;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return ProxyProtocol.ProxyHeaderRead.Closed;
        }
    }

    /// <summary>
    /// Connects to the backend within <paramref name="timeout"/>: the socket, or null when this
    /// connection was closed meanwhile (drain, listener stop); a refusal or the timeout is a
    /// <see cref="BackendConnectException"/>.
    /// </summary>
    public async ValueTask<Socket?> ConnectBackendAsync(string host, int port, TimeSpan timeout)
    {
        if (_loop is null)
        {
            // Not cancelled when the client closes: a client that sends its request and
            // half-closes at once (nc -N, a one-shot script) is still waiting for the answer,
            // and a client leaving is never counted against the backend. The timeout bounds the wait.
            return await BackendConnector.ConnectAsync(host, port, timeout, CancellationToken.None).ConfigureAwait(false);
        }
        return await ConnectOnLoopAsync(host, port, timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the connected backend socket; false (and the socket disposed) when the connection
    /// was closed while connecting, e.g. by a listener stop.
    /// </summary>
    /// <param name="preamble">Bytes sent to the backend before the client's (a PROXY protocol header), or null.</param>
    public bool Attach(Socket backend, TimeSpan idleTimeout, Metrics.AgentMetrics.TcpChildren counters, byte[]? preamble = null)
    {
        _counters = counters;
        _preamble = preamble;
        IdleTimeoutMs = idleTimeout > TimeSpan.Zero ? (long)idleTimeout.TotalMilliseconds : 0;
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        if (_loop is not null)
        {
            // The loop owns the socket since the connect: it closes it with the connection.
            return !IsClosed;
        }
        Volatile.Write(ref _backend, backend);
        if (IsClosed)
        {
            // Close ran before the backend was set and could not see it.
            backend.Dispose();
            return false;
        }
        return true;
    }

    /// <summary>Copies both ways until both directions have ended; the sockets are closed on return.</summary>
    public async Task RelayAsync()
    {
        if (_loop is not null)
        {
            await RelayOnLoopAsync().ConfigureAwait(false);
            return;
        }
        var backend = _backend ?? throw new InvalidOperationException("no backend attached");
        if (_preamble is { } preamble)
        {
            try
            {
                await backend.SendAsync(preamble, SocketFlags.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                Close();
                return;
            }
        }
        var toBackend = CopyAsync(Client, backend, toBackend: true);
        var toClient = CopyAsync(backend, Client, toBackend: false);
        await toBackend.ConfigureAwait(false);
        await toClient.ConfigureAwait(false);
        Close();
    }

    /// <summary>Adds the bytes copied since the last call to the metrics (the sweep calls it, and Close).</summary>
    public void CountBytes()
    {
        if (_counters is not { } counters)
        {
            return;
        }
        var up = Interlocked.Exchange(ref _uncountedToBackend, 0);
        if (up > 0)
        {
            counters.BytesToBackend.Inc(up);
        }
        var down = Interlocked.Exchange(ref _uncountedToClient, 0);
        if (down > 0)
        {
            counters.BytesToClient.Inc(down);
        }
    }

    private void NoteCopied(int bytes, bool toBackend)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        if (toBackend)
        {
            Interlocked.Add(ref _uncountedToBackend, bytes);
        }
        else
        {
            Interlocked.Add(ref _uncountedToClient, bytes);
        }
    }

    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        // Disposing a socket also ends a receive pending on it, which ends that copy loop.
        Client.Dispose();
        Volatile.Read(ref _backend)?.Dispose();
        CountBytes();
    }

    /// <summary>
    /// One direction. The end of the stream is passed on as a half-close (the other direction
    /// keeps going); an error on either socket closes the whole connection, as nothing more
    /// can be relayed in order.
    /// </summary>
    private async Task CopyAsync(Socket from, Socket to, bool toBackend)
    {
        var size = FirstBufferSize;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer.AsMemory(0, size), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                NoteCopied(read, toBackend);
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
                if (read == size && size < LargestBufferSize)
                {
                    size *= 4;
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(size);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // A reset, or closed from here (the other direction's error, drain, idle timeout, stop).
            Close();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
