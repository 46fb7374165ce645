using System.Buffers;
using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tcp.Epoll;

namespace LoadBalancer.Agent.Tcp;

/// <summary>The relay on an <see cref="EpollLoop"/>: everything below runs on the loop's thread unless it says otherwise.</summary>
internal sealed partial class TcpRelayConnection
{
    private const int ConnectSucceeded = 0;
    private const int ConnectTimedOut = -1;
    private const int ConnectAborted = -2;

    private readonly int _clientFd = -1;
    private int _backendFd = -1;
    private RelayState _state;
    private int _slot = -1;
    private ulong _eventData;
    private int _abortRequested;
    private Socket? _connecting;
    private TaskCompletionSource<int>? _connectDone;
    private TaskCompletionSource? _relayDone;
    private ProxyProtocol.ProxyHeaderReader? _headerReader;
    private TaskCompletionSource<ProxyProtocol.ProxyHeaderRead>? _headerDone;

    // What epoll said of each socket since the last time it was drained (edge-triggered).
    private bool _clientReadable;
    private bool _clientWritable = true;
    private bool _clientPeerClosed;
    private bool _backendReadable;
    private bool _backendWritable = true;
    private bool _backendPeerClosed;
    private Half _up;
    private Half _down;

    private enum RelayState
    {
        Idle,
        ReadingHeader,
        Connecting,
        Connected,
        Relaying,
        Closed,
    }

    /// <summary>One direction's bytes read and not yet written.</summary>
    private struct Half
    {
        public byte[]? Buffer;
        public int Size;
        public int Offset;
        public int Pending;
        public bool Grow;
        public bool Ended;
        public bool ShutdownSent;
    }

    // Any thread: the loop closes, so that no descriptor is closed under a system call.
    private void RequestAbort()
    {
        if (IsClosed || Interlocked.Exchange(ref _abortRequested, 1) != 0)
        {
            return;
        }
        _loop!.Post(this, EpollCommand.Abort);
    }

    // Handler's thread: resolves, starts a non-blocking connect per address, and waits for the loop's verdict.
    private async ValueTask<Socket?> ConnectOnLoopAsync(string host, int port, TimeSpan timeout)
    {
        var started = Environment.TickCount64;
        var limit = timeout > TimeSpan.Zero ? (long)timeout.TotalMilliseconds : long.MaxValue;
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            using var resolveDeadline = timeout > TimeSpan.Zero ? new CancellationTokenSource(timeout) : null;
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, resolveDeadline?.Token ?? default).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw BackendConnectException.TimeoutPassed(host, port, timeout);
            }
            catch (SocketException ex)
            {
                throw new BackendConnectException(new DnsEndPoint(host, port), timedOut: false, ex);
            }
        }

        SocketException? lastError = null;
        foreach (var address in addresses)
        {
            var left = limit == long.MaxValue ? long.MaxValue : limit - (Environment.TickCount64 - started);
            if (left <= 0)
            {
                throw BackendConnectException.TimeoutPassed(host, port, timeout);
            }
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
            try
            {
                socket.Connect(new IPEndPoint(address, port));
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                // The usual answer of a non-blocking connect: the loop learns the outcome from epoll.
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                lastError = ex;
                continue;
            }

            _connecting = socket;
            // Completed by the loop, which then runs the handler's next steps itself (attach, start
            // the relay; failures: log, pick another backend) as the runtime's inline socket
            // completions do: short and non-blocking, and no thread-pool hop per connection.
            _connectDone = new TaskCompletionSource<int>();
            var outcome = _connectDone.Task;
            _loop!.Post(this, EpollCommand.Connect);
            int result;
            using (var deadline = left == long.MaxValue ? null : new CancellationTokenSource(TimeSpan.FromMilliseconds(left)))
            {
                // Disposing the registration waits for a running callback, so a late timeout is
                // queued before the next attempt's Connect and finds nothing connecting.
                using var registration = deadline?.Token.UnsafeRegister(static s => ((TcpRelayConnection)s!).PostConnectTimedOut(), this) ?? default;
                result = await outcome.ConfigureAwait(false);
            }
            switch (result)
            {
                case ConnectSucceeded:
                    return socket;
                case ConnectAborted:
                    socket.Dispose();
                    return null;
                case ConnectTimedOut:
                    socket.Dispose();
                    throw BackendConnectException.TimeoutPassed(host, port, timeout);
                default:
                    socket.Dispose();
                    lastError = new SocketException(result);
                    break;
            }
        }
        throw new BackendConnectException(new DnsEndPoint(host, port), timedOut: false,
            lastError ?? new SocketException((int)SocketError.HostNotFound));
    }

    private void PostConnectTimedOut() => _loop!.Post(this, EpollCommand.ConnectTimedOut);

    // Handler's thread: the loop watches the client socket until the header is in, then lets it go
    // (the relay registers it afresh, and epoll then reports whatever followed the header).
    private async ValueTask<ProxyProtocol.ProxyHeaderRead> ReadHeaderOnLoopAsync(TimeSpan timeout)
    {
        _headerReader = new ProxyProtocol.ProxyHeaderReader();
        _headerDone = new TaskCompletionSource<ProxyProtocol.ProxyHeaderRead>();
        var outcome = _headerDone.Task;
        _loop!.Post(this, EpollCommand.ReadHeader);
        using var deadline = new CancellationTokenSource(timeout);
        using var registration = deadline.Token.UnsafeRegister(static s => ((TcpRelayConnection)s!)._loop!.Post((TcpRelayConnection)s!, EpollCommand.HeaderTimedOut), this);
        return await outcome.ConfigureAwait(false);
    }

    private void StartReadingHeader()
    {
        if (_state == RelayState.Closed)
        {
            _headerDone!.TrySetResult(ProxyProtocol.ProxyHeaderRead.Closed);
            return;
        }
        _eventData = _loop!.Register(this, out _slot);
        _state = RelayState.ReadingHeader;
        // Adding a socket that has data already reports it at once.
        if (EpollInterop.Add(_loop.Epoll, _clientFd, EpollInterop.EPOLLIN | EpollInterop.EPOLLRDHUP | EpollInterop.EPOLLET, _eventData) < 0)
        {
            EndHeader(ProxyProtocol.ProxyHeaderRead.Closed);
        }
    }

    private void ContinueHeader()
    {
        var reader = _headerReader!;
        while (true)
        {
            var peeked = EpollInterop.Peek(_clientFd, reader.Buffer, reader.Have, reader.Room);
            if (peeked <= 0)
            {
                var error = peeked < 0 ? EpollInterop.LastError : 0;
                if (error == EpollInterop.EAGAIN)
                {
                    return;
                }
                if (error != EpollInterop.EINTR)
                {
                    EndHeader(ProxyProtocol.ProxyHeaderRead.Closed);
                    return;
                }
                continue;
            }
            var status = reader.Offer((int)peeked, out var consume, out var header);
            if (status == ProxyProtocol.ProxyHeaderStatus.Invalid)
            {
                EndHeader(ProxyProtocol.ProxyHeaderRead.Invalid);
                return;
            }
            var offset = reader.Have - consume;
            while (consume > 0)
            {
                // Peeked already: the bytes are there.
                var read = EpollInterop.Receive(_clientFd, reader.Buffer, offset, consume);
                if (read <= 0)
                {
                    if (read < 0 && EpollInterop.LastError == EpollInterop.EINTR)
                    {
                        continue;
                    }
                    EndHeader(ProxyProtocol.ProxyHeaderRead.Closed);
                    return;
                }
                offset += (int)read;
                consume -= (int)read;
            }
            if (status == ProxyProtocol.ProxyHeaderStatus.Complete)
            {
                EndHeader(ProxyProtocol.ProxyHeaderRead.Of(header!));
                return;
            }
        }
    }

    private void EndHeader(ProxyProtocol.ProxyHeaderRead outcome)
    {
        _ = EpollInterop.Remove(_loop!.Epoll, _clientFd);
        _loop.Release(_slot);
        _slot = -1;
        _state = RelayState.Idle;
        _headerReader = null;
        _headerDone!.TrySetResult(outcome);
    }

    // Handler's thread.
    private Task RelayOnLoopAsync()
    {
        // Completed by the loop when both sides are closed; what follows (counters, leaving the
        // backend, untracking) is short and runs there.
        _relayDone = new TaskCompletionSource();
        var done = _relayDone.Task;
        if (_loop!.IsCurrentThread)
        {
            StartRelay();
        }
        else
        {
            _loop.Post(this, EpollCommand.Start);
        }
        return done;
    }

    internal void OnCommand(EpollCommand command)
    {
        switch (command)
        {
            case EpollCommand.Connect:
                StartConnect();
                break;
            case EpollCommand.ConnectTimedOut:
                if (_state == RelayState.Connecting)
                {
                    EndConnect(ConnectTimedOut);
                }
                break;
            case EpollCommand.Start:
                StartRelay();
                break;
            case EpollCommand.Abort:
                CloseOnLoop();
                break;
            case EpollCommand.ReadHeader:
                StartReadingHeader();
                break;
            case EpollCommand.HeaderTimedOut:
                if (_state == RelayState.ReadingHeader)
                {
                    EndHeader(ProxyProtocol.ProxyHeaderRead.TimedOut);
                }
                break;
        }
    }

    private void StartConnect()
    {
        var socket = _connecting!;
        if (_state == RelayState.Closed)
        {
            _connectDone!.TrySetResult(ConnectAborted);
            return;
        }
        _backendFd = (int)socket.SafeHandle.DangerousGetHandle();
        // A slot (and generation) per attempt: no event of an earlier attempt's socket can reach this one.
        _eventData = _loop!.Register(this, out _slot);
        _backendReadable = _backendPeerClosed = false;
        _backendWritable = true;
        _state = RelayState.Connecting;
        var events = EpollInterop.EPOLLIN | EpollInterop.EPOLLOUT | EpollInterop.EPOLLRDHUP | EpollInterop.EPOLLET;
        if (EpollInterop.Add(_loop!.Epoll, _backendFd, events, _eventData | 1) < 0)
        {
            EndConnect((int)SocketError.SocketError);
        }
    }

    // Ends a connect attempt that did not succeed; the handler disposes the socket.
    private void EndConnect(int result)
    {
        _ = EpollInterop.Remove(_loop!.Epoll, _backendFd);
        _backendFd = -1;
        _loop.Release(_slot);
        _slot = -1;
        _state = RelayState.Idle;
        _connectDone!.TrySetResult(result);
    }

    private void StartRelay()
    {
        if (_state != RelayState.Connected)
        {
            // Closed while the handler was attaching: nothing to relay.
            CloseOnLoop();
            _relayDone!.TrySetResult();
            return;
        }
        _up.Buffer = ArrayPool<byte>.Shared.Rent(FirstBufferSize);
        _up.Size = FirstBufferSize;
        _down.Buffer = ArrayPool<byte>.Shared.Rent(FirstBufferSize);
        _down.Size = FirstBufferSize;
        if (_preamble is { } preamble)
        {
            // Sent ahead of the client's bytes, as if the client had sent it.
            preamble.CopyTo(_up.Buffer, 0);
            _up.Offset = 0;
            _up.Pending = preamble.Length;
        }
        _state = RelayState.Relaying;
        var events = EpollInterop.EPOLLIN | EpollInterop.EPOLLOUT | EpollInterop.EPOLLRDHUP | EpollInterop.EPOLLET;
        if (EpollInterop.Add(_loop!.Epoll, _clientFd, events, _eventData) < 0)
        {
            CloseOnLoop();
            return;
        }
        // Whatever the client sent before now is read when its registration reports it; the
        // backend may already have spoken (a database greeting).
        Pump();
    }

    internal void OnEvents(bool backend, uint flags)
    {
        if (!backend && _state == RelayState.ReadingHeader)
        {
            ContinueHeader();
            return;
        }
        if (backend && _state == RelayState.Connecting)
        {
            if ((flags & (EpollInterop.EPOLLOUT | EpollInterop.EPOLLERR | EpollInterop.EPOLLHUP)) == 0)
            {
                return;
            }
            var error = (int)_connecting!.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
            if (error != 0 || (flags & (EpollInterop.EPOLLERR | EpollInterop.EPOLLHUP)) != 0)
            {
                EndConnect(error != 0 ? error : (int)SocketError.ConnectionRefused);
                return;
            }
            _backend = _connecting;
            _connecting = null;
            _state = RelayState.Connected;
            Note(backend, flags);
            _connectDone!.TrySetResult(ConnectSucceeded);
            return;
        }
        if (_state is not (RelayState.Connected or RelayState.Relaying))
        {
            return;
        }
        Note(backend, flags);
        if (_state == RelayState.Relaying)
        {
            Pump();
        }
    }

    private void Note(bool backend, uint flags)
    {
        var readable = (flags & (EpollInterop.EPOLLIN | EpollInterop.EPOLLRDHUP | EpollInterop.EPOLLHUP | EpollInterop.EPOLLERR)) != 0;
        var peerClosed = (flags & (EpollInterop.EPOLLRDHUP | EpollInterop.EPOLLHUP | EpollInterop.EPOLLERR)) != 0;
        var writable = (flags & (EpollInterop.EPOLLOUT | EpollInterop.EPOLLHUP | EpollInterop.EPOLLERR)) != 0;
        if (backend)
        {
            _backendReadable |= readable;
            _backendPeerClosed |= peerClosed;
            _backendWritable |= writable;
        }
        else
        {
            _clientReadable |= readable;
            _clientPeerClosed |= peerClosed;
            _clientWritable |= writable;
        }
    }

    private void Pump()
    {
        if (!PumpHalf(ref _up, _clientFd, _backendFd, ref _clientReadable, _clientPeerClosed, ref _backendWritable, _backend!, toBackend: true)
            || !PumpHalf(ref _down, _backendFd, _clientFd, ref _backendReadable, _backendPeerClosed, ref _clientWritable, Client, toBackend: false))
        {
            CloseOnLoop();
            return;
        }
        if (_up.ShutdownSent && _down.ShutdownSent)
        {
            CloseOnLoop();
        }
    }

    /// <summary>
    /// Moves one direction as far as the sockets allow; false on an error of either socket.
    /// A read shorter than the buffer means the socket is drained: its next data raises a new
    /// edge, so it is not read again before that (nginx and HAProxy do the same), except after the
    /// peer's FIN was reported, which raises no further edge and must be read to its end.
    /// </summary>
    private bool PumpHalf(ref Half half, int from, int to, ref bool readable, bool peerClosed, ref bool writable, Socket target, bool toBackend)
    {
        while (true)
        {
            if (half.Pending > 0)
            {
                if (!writable)
                {
                    return true;
                }
                var sent = EpollInterop.Send(to, half.Buffer!, half.Offset, half.Pending);
                if (sent < 0)
                {
                    var error = EpollInterop.LastError;
                    if (error == EpollInterop.EAGAIN)
                    {
                        writable = false;
                        return true;
                    }
                    if (error == EpollInterop.EINTR)
                    {
                        continue;
                    }
                    return false;
                }
                half.Offset += (int)sent;
                half.Pending -= (int)sent;
                continue;
            }
            if (half.Ended)
            {
                if (!half.ShutdownSent)
                {
                    half.ShutdownSent = true;
                    try
                    {
                        target.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException)
                    {
                        return false;
                    }
                }
                return true;
            }
            if (!readable)
            {
                return true;
            }
            if (half.Grow)
            {
                half.Grow = false;
                ArrayPool<byte>.Shared.Return(half.Buffer!);
                half.Size *= 4;
                half.Buffer = ArrayPool<byte>.Shared.Rent(half.Size);
            }
            var read = EpollInterop.Receive(from, half.Buffer!, 0, half.Size);
            if (read > 0)
            {
                NoteCopied((int)read, toBackend);
                half.Offset = 0;
                half.Pending = (int)read;
                if (read < half.Size)
                {
                    readable = peerClosed;
                }
                else if (half.Size < LargestBufferSize)
                {
                    half.Grow = true;
                }
                continue;
            }
            if (read == 0)
            {
                half.Ended = true;
                readable = false;
                continue;
            }
            var readError = EpollInterop.LastError;
            if (readError == EpollInterop.EAGAIN)
            {
                readable = false;
                return true;
            }
            if (readError == EpollInterop.EINTR)
            {
                continue;
            }
            return false;
        }
    }

    /// <summary>Closes both sides and ends whatever waits on this connection; on the loop thread.</summary>
    internal void CloseOnLoop()
    {
        if (_state == RelayState.Closed)
        {
            return;
        }
        var was = _state;
        _state = RelayState.Closed;
        Volatile.Write(ref _closed, 1);
        if (was == RelayState.Connecting)
        {
            // The handler disposes the socket it is connecting.
            _ = EpollInterop.Remove(_loop!.Epoll, _backendFd);
            _connectDone!.TrySetResult(ConnectAborted);
        }
        else if (was == RelayState.ReadingHeader)
        {
            _headerDone!.TrySetResult(ProxyProtocol.ProxyHeaderRead.Closed);
        }
        if (_slot >= 0)
        {
            _loop!.Release(_slot);
            _slot = -1;
        }
        // Closing a descriptor also takes it out of the epoll set.
        Client.Dispose();
        _backend?.Dispose();
        ReturnBuffer(ref _up);
        ReturnBuffer(ref _down);
        CountBytes();
        _relayDone?.TrySetResult();
    }

    private static void ReturnBuffer(ref Half half)
    {
        if (half.Buffer is { } buffer)
        {
            half.Buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
