using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Persistence;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Tracing;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace LoadBalancer.Agent.FastPath;

/// <summary>One client connection on the fast path: reads request heads, forwards, writes answers.</summary>
internal sealed class FastConnection : IRequestKeys, IDisposable
{
    private const int PhaseNone = 0;
    private const int PhaseClient = 1;
    private const int PhaseBackend = 2;

    private static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(100);

    private readonly FastHttpHandler _handler;
    private readonly ConnectionContext _connection;
    private readonly ListenerState _listener;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Http1Request _request = new();
    private readonly byte[] _send = ArrayPool<byte>.Shared.Rent((2 * Http1Request.MaxHead) + 1024);
    private readonly IPAddress? _remote;
    private readonly byte[]? _remoteText;
    private readonly byte[] _localPortText;
    private readonly BackendActivity.Entry _activity;
    private readonly CancellationTokenRegistration _closingRegistration;

    private long _deadline;
    private int _phase;
    private volatile bool _closing;
    private volatile bool _backendTimedOut;

    // Set when a drain deadline closed both sides: what the exchange sees next is our own abort,
    // not a stale connection to replace or a backend failure to retry.
    private volatile bool _drained;
    private volatile bool _clientTimedOut;
    private BackendConnection? _backend;

    public FastConnection(FastHttpHandler handler, ConnectionContext connection, ListenerState listener, bool https)
    {
        _handler = handler;
        _connection = connection;
        _listener = listener;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        IsHttps = https;
        _remote = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        var remote = _remote is { IsIPv4MappedToIPv6: true } ? _remote.MapToIPv4() : _remote;
        _remoteText = remote is null ? null : Encoding.ASCII.GetBytes(remote.ToString());
        _localPortText = Encoding.ASCII.GetBytes(((connection.LocalEndPoint as IPEndPoint)?.Port ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture));
        _activity = new BackendActivity.Entry(AbortForDrain);
        if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
        {
            // The listener is stopping: finish the request in hand, then close.
            _closingRegistration = lifetime.ConnectionClosedRequested.Register(static state => ((FastConnection)state!).RequestClose(), this);
        }
    }

    public IPAddress? RemoteAddress => _remote;

    public bool IsHttps { get; }

    public string Path => Encoding.ASCII.GetString(_request.PathBytes);

    /// <summary>
    /// Serves requests until the client closes (false) or a request needs Kestrel's HTTP handling
    /// (true, with that request left unread in the pipe).
    /// </summary>
    public async Task<bool> RunAsync()
    {
        try
        {
            return await ServeConnectionAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException or OperationCanceledException)
        {
            // The client reset or aborted its connection (a TLS stream reports it on the next read
            // or write): nothing to answer, nothing against any backend.
            return false;
        }
    }

    private async Task<bool> ServeConnectionAsync()
    {
        while (!_closing)
        {
            SetDeadline(PhaseClient, FastHttpHandler.KeepAliveTimeout);
            ReadResult result;
            int headLength;
            while (true)
            {
                result = await _input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    // Closing was requested, or the client kept the connection idle too long.
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    return false;
                }
                headLength = Http1Request.FindHeadEnd(buffer);
                if (headLength > 0)
                {
                    break;
                }
                if (headLength < 0)
                {
                    // No head within the fast path's limit: Kestrel answers it (431 or 400).
                    _input.AdvanceTo(buffer.Start, buffer.Start);
                    return true;
                }
                if (result.IsCompleted)
                {
                    _input.AdvanceTo(buffer.End);
                    return false;
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (!buffer.IsEmpty)
                {
                    SetDeadline(PhaseClient, FastHttpHandler.RequestHeadersTimeout);
                }
            }

            if (_request.Parse(result.Buffer, headLength) != HeadParse.Accepted)
            {
                _input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                return true;
            }

            var pool = MatchPool(out var route);
            var routed = route is not null;
            if (routed && pool is { Config.Protocol: "https" })
            {
                // TLS to the backends is YARP's (SocketsHttpHandler's SslStream, backend TLS settings).
                _input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                return true;
            }

            // The body is held whole before forwarding, so that a retry can send it again.
            var need = headLength + _request.ContentLength;
            if (result.Buffer.Length < need)
            {
                SetDeadline(PhaseClient, FastHttpHandler.RequestHeadersTimeout);
            }
            while (result.Buffer.Length < need)
            {
                if (result.IsCompleted || (result.IsCanceled && _clientTimedOut))
                {
                    // The client left mid-body: nothing was sent anywhere.
                    _input.AdvanceTo(result.Buffer.End);
                    return false;
                }
                _input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                result = await _input.ReadAsync().ConfigureAwait(false);
            }

            var body = result.Buffer.Slice(headLength, _request.ContentLength);
            SetDeadline(PhaseNone, TimeSpan.Zero);
            // The request is served here rather than in async methods of its own: those would
            // allocate their state machines for nearly every request (each waits for its backend),
            // which the pooled builders' per-thread caches cannot hold for many connections at once.
            bool keepAlive;
            var listener = _listener.Config.Name;
            if (!routed)
            {
                _handler.Metrics.NoBackend.WithLabels(listener, "404").Inc();
                keepAlive = await WriteErrorAsync(404, "no route matches this host and path").ConfigureAwait(false);
                goto Served;
            }
            if (pool?.HttpClient is null)
            {
                _handler.Metrics.NoBackend.WithLabels(listener, "503").Inc();
                keepAlive = await WriteErrorAsync(503, "pool is not available").ConfigureAwait(false);
                goto Served;
            }

            // Off (no --otel): this one check, no Activity, and traceparent passes through as sent.
            var span = AgentTracing.Enabled ? StartSpan(route!) : null;
            BackendState? tried = null;
            int spanStatus;

            // A pool that has just appeared waits for its backends' first health results, as on the YARP path.
            await pool.WhenWarmAsync(_connection.ConnectionClosed).ConfigureAwait(false);
            var sticky = SessionAffinity.Place(this, pool, out var balancer, out var pickContext);
            var attempts = new BackendAttempts(pool, balancer, pickContext, sticky);
            var idempotent = _request.IsIdempotent;

            while (true)
            {
                var backend = attempts.Next(_handler.Metrics, _handler.Logger);
                tried = backend ?? tried;
                if (backend is null)
                {
                    _handler.Metrics.NoBackend.WithLabels(listener, "503").Inc();
                    keepAlive = await WriteErrorAsync(503, attempts.NoBackendReason).ConfigureAwait(false);
                    spanStatus = 503;
                    goto Traced;
                }
                var cookie = backend != sticky ? SessionAffinity.SetCookieFor(pool, backend, IsHttps) : null;

                var started = Stopwatch.GetTimestamp();
                Outcome outcome;
                try
                {
                    using var registration = _handler.Activity.Register(backend, _activity);
                    var sendLength = WriteRequestHead(body.Length, span);
                    // A stale kept-alive connection (closed by the backend while idle) is replaced once,
                    // without counting against the backend: the request never reached it.
                    for (var fresh = false; ; fresh = true)
                    {
                        BackendConnection connection;
                        try
                        {
                            connection = await _handler.Connections.RentAsync(backend, pool.Config.ConnectTimeout, checkAlive: !idempotent || fresh).ConfigureAwait(false);
                        }
                        catch (BackendConnectException ex)
                        {
                            outcome = Outcome.Failed(ForwardOutcome.ConnectFailed, "connect failed", ex.TimedOut ? "timeout" : ex.InnerException?.Message, timedOut: ex.TimedOut);
                            goto Forwarded;
                        }

                        _backend = connection;
                        _backendTimedOut = false;
                        // The exchange with the backend.
                        var socket = connection.Socket;
                        var reused = connection.Reused;
                        var requestTimeout = pool.Config.RequestTimeout > TimeSpan.Zero ? pool.Config.RequestTimeout : DefaultRequestTimeout;
                        var responseStarted = false;
                        var status = 0;
                        try
                        {
                            SetDeadline(PhaseBackend, requestTimeout);
                            if (body.IsEmpty)
                            {
                                await socket.SendAsync(_send.AsMemory(0, sendLength), SocketFlags.None).ConfigureAwait(false);
                            }
                            else
                            {
                                await socket.SendAsync(_send.AsMemory(0, sendLength), SocketFlags.None).ConfigureAwait(false);
                                foreach (var segment in body)
                                {
                                    await socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                                }
                            }

                            // The response head, skipping interim (1xx) answers.
                            var buffer = connection.Buffer;
                            var filled = 0;
                            Http1Response response;
                            while (true)
                            {
                                SetDeadline(PhaseBackend, requestTimeout);
                                var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None).ConfigureAwait(false);
                                if (read == 0)
                                {
                                    connection.Dispose();
                                    if (_drained || _backendTimedOut)
                                    {
                                        outcome = Aborted(requestTimeout, responseStarted, status);
                                        goto Exchanged;
                                    }
                                    outcome = filled == 0 && reused
                                        ? new Outcome(ForwardOutcome.Stale)
                                        : Outcome.Failed(ForwardOutcome.RequestFailed, "request failed", "the backend closed the connection before answering");
                                    goto Exchanged;
                                }
                                filled += read;
                                if (Http1Response.TryParse(buffer.AsSpan(0, filled), _request.IsHead, out response))
                                {
                                    if (response.Status >= 200)
                                    {
                                        break;
                                    }
                                    if (response.Status == 101)
                                    {
                                        throw new InvalidDataException("unexpected 101 Switching Protocols");
                                    }
                                    buffer.AsSpan(response.HeadLength, filled - response.HeadLength).CopyTo(buffer);
                                    filled -= response.HeadLength;
                                    continue;
                                }
                                if (filled == buffer.Length)
                                {
                                    throw new InvalidDataException("response head larger than " + BackendConnection.BufferSize + " bytes");
                                }
                            }

                            status = response.Status;
                            var closeClient = _closing || _request.Close || response.Framing == BodyFraming.UntilClose;
                            WriteResponseHead(buffer.AsSpan(0, response.HeadLength), response, cookie, closeClient);
                            responseStarted = true;

                            // Body bytes that came with the head, then the rest straight into the client's pipe.
                            var chunked = default(ChunkedScanner);
                            var remaining = response.ContentLength;
                            var extra = filled - response.HeadLength;
                            var done = response.Framing == BodyFraming.None
                                || (response.Framing == BodyFraming.ContentLength && remaining == 0);
                            var reusable = response.Reusable;
                            if (extra > 0)
                            {
                                var bytes = buffer.AsSpan(response.HeadLength, extra);
                                var take = TakeBody(bytes, response.Framing, ref remaining, ref chunked, out done);
                                _output.Write(bytes[..take]);
                                reusable &= take == extra;
                            }
                            var flush = await _output.FlushAsync().ConfigureAwait(false);
                            if (flush.IsCompleted || flush.IsCanceled)
                            {
                                connection.Dispose();
                                outcome = new Outcome(ForwardOutcome.ClientGone) { ResponseStarted = true, Status = status };
                                goto Exchanged;
                            }

                            while (!done)
                            {
                                var memory = _output.GetMemory(4096);
                                if (response.Framing == BodyFraming.ContentLength && remaining < memory.Length)
                                {
                                    memory = memory[..(int)remaining];
                                }
                                SetDeadline(PhaseBackend, requestTimeout);
                                var read = await socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                                if (read == 0)
                                {
                                    if (response.Framing == BodyFraming.UntilClose)
                                    {
                                        done = true;
                                        break;
                                    }
                                    throw new IOException("the backend closed the connection mid-response");
                                }
                                var take = TakeBody(memory.Span[..read], response.Framing, ref remaining, ref chunked, out done);
                                reusable &= take == read;
                                _output.Advance(take);
                                flush = await _output.FlushAsync().ConfigureAwait(false);
                                if (flush.IsCompleted || flush.IsCanceled)
                                {
                                    connection.Dispose();
                                    outcome = new Outcome(ForwardOutcome.ClientGone) { ResponseStarted = true, Status = status };
                                    goto Exchanged;
                                }
                            }
                            SetDeadline(PhaseNone, TimeSpan.Zero);

                            if (reusable && !_backendTimedOut)
                            {
                                _handler.Connections.Return(backend, connection);
                            }
                            else
                            {
                                connection.Dispose();
                            }
                            outcome = new Outcome(ForwardOutcome.Answered) { Status = status, KeepAlive = !closeClient };
                        }
                        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidDataException or InvalidOperationException)
                        {
                            SetDeadline(PhaseNone, TimeSpan.Zero);
                            connection.Dispose();
                            if (_drained || _backendTimedOut)
                            {
                                outcome = Aborted(requestTimeout, responseStarted, status);
                                goto Exchanged;
                            }
                            if (!responseStarted && reused && ex is SocketException)
                            {
                                // Sending on, or reading from, a connection the backend had already closed.
                                outcome = new Outcome(ForwardOutcome.Stale);
                                goto Exchanged;
                            }
                            outcome = Outcome.Failed(ForwardOutcome.RequestFailed, responseStarted ? "response failed" : "request failed", ex.Message) with { ResponseStarted = responseStarted, Status = status };
                        }

                    Exchanged:
                        _backend = null;
                        if (outcome.Kind == ForwardOutcome.Stale && !fresh && idempotent)
                        {
                            continue;
                        }
                        if (outcome.Kind == ForwardOutcome.Stale)
                        {
                            outcome = Outcome.Failed(ForwardOutcome.RequestFailed, "request failed", "the backend closed the connection before answering");
                        }
                        goto Forwarded;
                    }

                Forwarded:
                    _backend = null;
                }
                finally
                {
                    backend.Leave();
                }
                var elapsed = Stopwatch.GetElapsedTime(started);

                if (outcome.Kind == ForwardOutcome.Answered)
                {
                    backend.RecordLatency(elapsed);
                    _handler.Metrics.RecordRequest(listener, backend, outcome.Status, elapsed);
                    LogAccess(listener, pool.Name, backend.Name, outcome.Status, elapsed);
                    _handler.Health.ReportPassive(backend, outcome.Status < 500, outcome.Status >= 500 ? $"status {outcome.Status}" : null);
                    keepAlive = outcome.KeepAlive;
                    spanStatus = outcome.Status;
                    goto Traced;
                }
                if (outcome.Kind == ForwardOutcome.ClientGone)
                {
                    FastHttpHandler.Log.ClientCanceled(_handler.Logger, pool.Name, backend.Name, "client closed the connection");
                    keepAlive = false;
                    spanStatus = 0;
                    goto Traced;
                }
                if (outcome.Kind == ForwardOutcome.Drained)
                {
                    // Not the backend's fault, and nothing to retry: the client's connection is closed too.
                    FastHttpHandler.Log.ClientCanceled(_handler.Logger, pool.Name, backend.Name, "closed at the backend's drainTimeout");
                    keepAlive = false;
                    spanStatus = 0;
                    goto Traced;
                }

                // The request body is in hand (at most 64 KB, read before forwarding): it can be sent again.
                var retry = attempts.Failed(backend, _handler.Health, outcome.Error,
                    RetryRule.Allows(outcome.Kind, outcome.TimedOut, idempotent, outcome.ResponseStarted, bodyReadStarted: false));
                FastHttpHandler.Log.ForwardFailed(_handler.Logger, pool.Name, backend.Name, outcome.Error, retry, outcome.Reason);
                if (!retry)
                {
                    if (outcome.ResponseStarted)
                    {
                        // Part of the answer went out: the client can only learn of it by the close.
                        _handler.Metrics.RecordRequest(listener, backend, outcome.Status, elapsed);
                        LogAccess(listener, pool.Name, backend.Name, outcome.Status, elapsed);
                        _connection.Abort(new ConnectionAbortedException("the backend failed mid-response"));
                        keepAlive = false;
                        spanStatus = outcome.Status;
                        goto Traced;
                    }
                    var status = outcome.TimedOut ? 504 : 502;
                    _handler.Metrics.RecordRequest(listener, backend, status, elapsed);
                    LogAccess(listener, pool.Name, backend.Name, status, elapsed);
                    keepAlive = await WriteErrorAsync(status, null).ConfigureAwait(false);
                    spanStatus = status;
                    goto Traced;
                }
            }

        Traced:
            if (span is not null)
            {
                ProxySpan.End(span, tried, attempts.Retries, spanStatus);
            }

        Served:
            _input.AdvanceTo(result.Buffer.GetPosition(need));
            if (!keepAlive || _request.Close)
            {
                return false;
            }
        }
        return false;
    }

    private PoolRuntime? MatchPool(out Config.RouteConfig? matched)
    {
        Span<char> host = stackalloc char[256];
        var hostBytes = _request.Host;
        if (hostBytes.Length > host.Length)
        {
            host = new char[hostBytes.Length];
        }
        host = host[..Encoding.ASCII.GetChars(hostBytes, host)];

        var pathBytes = _request.PathBytes;
        var rented = pathBytes.Length > 512 ? ArrayPool<char>.Shared.Rent(pathBytes.Length) : null;
        Span<char> path = rented ?? stackalloc char[512];
        path = path[..Encoding.ASCII.GetChars(pathBytes, path)];
        var route = _listener.Routes.Match(host, path);
        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }
        matched = route;
        return route is null ? null : _handler.Pools.Find(route.Pool);
    }

    /// <summary>The outcome of an exchange this connection cut itself (drain deadline or request timeout).</summary>
    private Outcome Aborted(TimeSpan requestTimeout, bool responseStarted, int status) => _drained
        ? new Outcome(ForwardOutcome.Drained) { ResponseStarted = responseStarted, Status = status }
        : Outcome.Failed(ForwardOutcome.RequestFailed, "request timed out", $"no answer within {requestTimeout.TotalSeconds:0.###} s", timedOut: true) with { ResponseStarted = responseStarted, Status = status };

    /// <summary>How many of <paramref name="bytes"/> belong to the body; sets done at its end.</summary>
    private static int TakeBody(ReadOnlySpan<byte> bytes, BodyFraming framing, ref long remaining, ref ChunkedScanner chunked, out bool done)
    {
        switch (framing)
        {
            case BodyFraming.ContentLength:
                var take = (int)Math.Min(remaining, bytes.Length);
                remaining -= take;
                done = remaining == 0;
                return take;
            case BodyFraming.Chunked:
                var used = chunked.Scan(bytes);
                done = chunked.Done;
                return used;
            case BodyFraming.UntilClose:
                done = false;
                return bytes.Length;
            default:
                done = true;
                return 0;
        }
    }

    /// <summary>
    /// The request as the backend gets it: the request line and headers as the client sent them,
    /// less the hop-by-hop ones, with the forwarding headers set by the rules of
    /// <see cref="ForwardingTransformer"/>: from a trusted proxy its headers stand and this hop is
    /// appended; from anyone else they are all dropped and set afresh.
    /// </summary>
    private int WriteRequestHead(long bodyLength, Activity? span)
    {
        var request = _request;
        var trusted = _listener.Routes.Forwarding.Trusts(_remote);
        var output = _send.AsSpan();
        var n = 0;
        Append(output, ref n, request.Buffer.AsSpan(0, request.MethodLength + 1 + request.TargetLength));
        Append(output, ref n, " HTTP/1.1\r\nHost: "u8);
        Append(output, ref n, request.Host);
        Append(output, ref n, "\r\n"u8);
        var forwardedFor = -1;
        var forwardedForCount = 0;
        var sawContentLength = false;
        for (var i = 0; i < request.HeaderCount; i++)
        {
            var field = request.Headers[i];
            switch (field.Kind)
            {
                case RequestHeader.Other:
                    if (span is not null && Ascii.EqualsIgnoreCase(request.Name(i), "traceparent"u8))
                    {
                        // Replaced below by the agent's span as the backend's parent.
                        break;
                    }
                    Append(output, ref n, request.Name(i));
                    Append(output, ref n, ": "u8);
                    Append(output, ref n, request.Value(i));
                    Append(output, ref n, "\r\n"u8);
                    break;
                case RequestHeader.ContentLength:
                    sawContentLength = true;
                    // The number as the YARP path writes it ("003" becomes "3"): one reading for every parser after us.
                    Append(output, ref n, "Content-Length: "u8);
                    Utf8Formatter.TryFormat(request.ContentLength, output[n..], out var written);
                    n += written;
                    Append(output, ref n, "\r\n"u8);
                    break;
                case RequestHeader.Forwarding when trusted:
                    Append(output, ref n, request.Name(i));
                    Append(output, ref n, ": "u8);
                    Append(output, ref n, request.Value(i));
                    Append(output, ref n, "\r\n"u8);
                    break;
                case RequestHeader.XForwardedFor when trusted:
                    forwardedFor = forwardedFor < 0 ? i : forwardedFor;
                    forwardedForCount++;
                    break;
            }
        }
        if (!sawContentLength && request.DeclaresEmptyBody)
        {
            // As on the YARP path: a body-less POST, PUT or PATCH is declared empty, never sent open-ended.
            Append(output, ref n, "Content-Length: 0\r\n"u8);
        }
        if (_remoteText is not null || forwardedForCount > 0)
        {
            Append(output, ref n, "X-Forwarded-For: "u8);
        }
        if (forwardedForCount > 0)
        {
            var valuesStart = n;
            for (var i = forwardedFor; i < request.HeaderCount; i++)
            {
                if (request.Headers[i].Kind != RequestHeader.XForwardedFor)
                {
                    continue;
                }
                if (i != forwardedFor)
                {
                    Append(output, ref n, ","u8);
                }
                Append(output, ref n, request.Value(i));
            }
            if (n > valuesStart && _remoteText is not null)
            {
                // An empty X-Forwarded-For is no hop: the YARP path sends the client address alone.
                Append(output, ref n, ", "u8);
            }
        }
        if (_remoteText is not null || forwardedForCount > 0)
        {
            Append(output, ref n, _remoteText);
            Append(output, ref n, "\r\n"u8);
        }
        var sent = trusted ? request.Forwarded : ForwardingSent.None;
        if (_remoteText is not null && (sent & ForwardingSent.RealIp) == 0)
        {
            Append(output, ref n, "X-Real-IP: "u8);
            Append(output, ref n, _remoteText);
            Append(output, ref n, "\r\n"u8);
        }
        if ((sent & ForwardingSent.Proto) == 0)
        {
            Append(output, ref n, IsHttps ? "X-Forwarded-Proto: https\r\n"u8 : "X-Forwarded-Proto: http\r\n"u8);
        }
        if ((sent & ForwardingSent.Host) == 0)
        {
            Append(output, ref n, "X-Forwarded-Host: "u8);
            Append(output, ref n, request.Host);
            Append(output, ref n, "\r\n"u8);
        }
        if ((sent & ForwardingSent.Port) == 0)
        {
            Append(output, ref n, "X-Forwarded-Port: "u8);
            Append(output, ref n, _localPortText);
            Append(output, ref n, "\r\n"u8);
        }
        if (span is not null)
        {
            Append(output, ref n, "traceparent: "u8);
            n += Encoding.ASCII.GetBytes(ProxySpan.TraceParent(span), output[n..]);
            Append(output, ref n, "\r\n"u8);
        }
        Append(output, ref n, "\r\n"u8);
        Debug.Assert(bodyLength == request.ContentLength);
        return n;
    }

    private void WriteResponseHead(ReadOnlySpan<byte> head, in Http1Response response, string? cookie, bool close)
    {
        var estimate = head.Length + 64 + (cookie?.Length ?? 0);
        var output = _output.GetSpan(estimate);
        var n = 0;
        var lineEnd = head.IndexOf("\r\n"u8);
        Append(output, ref n, "HTTP/1.1"u8);
        Append(output, ref n, head[8..lineEnd]);
        Append(output, ref n, "\r\n"u8);
        var pos = lineEnd + 2;
        while (pos < head.Length - 2)
        {
            var line = head[pos..];
            var end = line.IndexOf("\r\n"u8);
            line = line[..end];
            pos += end + 2;
            var name = line[..line.IndexOf((byte)':')];
            if (Http1Response.IsDropped(name)
                || (response.Framing == BodyFraming.Chunked && Ascii.EqualsIgnoreCase(name, "Content-Length"u8)))
            {
                continue;
            }
            Append(output, ref n, line);
            Append(output, ref n, "\r\n"u8);
        }
        if (close)
        {
            Append(output, ref n, "Connection: close\r\n"u8);
        }
        if (cookie is not null)
        {
            Append(output, ref n, "Set-Cookie: "u8);
            n += Encoding.ASCII.GetBytes(cookie, output[n..]);
            Append(output, ref n, "\r\n"u8);
        }
        Append(output, ref n, "\r\n"u8);
        _output.Advance(n);
    }

    private static void Append(Span<byte> output, ref int n, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output[n..]);
        n += bytes.Length;
    }

    /// <summary>An answer of the agent's own (no route, no backend, 502, 504), as the YARP path gives it.</summary>
    private async ValueTask<bool> WriteErrorAsync(int status, string? message)
    {
        var close = _closing || _request.Close;
        var output = _output.GetSpan(256 + (message?.Length ?? 0));
        var n = 0;
        Append(output, ref n, "HTTP/1.1 "u8);
        Utf8Formatter.TryFormat(status, output[n..], out var written);
        n += written;
        Append(output, ref n, status switch
        {
            404 => " Not Found\r\n"u8,
            502 => " Bad Gateway\r\n"u8,
            503 => " Service Unavailable\r\n"u8,
            504 => " Gateway Timeout\r\n"u8,
            _ => " Error\r\n"u8,
        });
        Append(output, ref n, "Content-Length: "u8);
        var length = message is null ? 0 : message.Length + 1;
        Utf8Formatter.TryFormat(length, output[n..], out written);
        n += written;
        Append(output, ref n, "\r\n"u8);
        if (message is not null)
        {
            Append(output, ref n, "Content-Type: text/plain; charset=utf-8\r\n"u8);
        }
        if (close)
        {
            Append(output, ref n, "Connection: close\r\n"u8);
        }
        Append(output, ref n, "\r\n"u8);
        if (message is not null && !_request.IsHead)
        {
            n += Encoding.ASCII.GetBytes(message, output[n..]);
            Append(output, ref n, "\n"u8);
        }
        _output.Advance(n);
        var flush = await _output.FlushAsync().ConfigureAwait(false);
        return !close && !flush.IsCompleted;
    }

    private void LogAccess(string listener, string pool, string backend, int status, TimeSpan elapsed)
    {
        if (_handler.AccessLog.IsEnabled(LogLevel.Information))
        {
            FastHttpHandler.Log.Access(_handler.AccessLog, _remote?.ToString() ?? "-", Encoding.ASCII.GetString(_request.Method), Encoding.ASCII.GetString(_request.Host),
                Path, "HTTP/1.1", status, listener, pool, backend, elapsed.TotalMilliseconds);
        }
    }

    /// <summary>The request's span when it is sampled (tracing on).</summary>
    private Activity? StartSpan(Config.RouteConfig route) =>
        ProxySpan.Start(Header("traceparent"), Header("tracestate"), _listener.Config.TracingSamplingRatio,
            Encoding.ASCII.GetString(_request.Method), Encoding.ASCII.GetString(_request.Host), Path, _listener.Config.Name, route);

    public string? Header(string name)
    {
        Span<byte> nameBytes = stackalloc byte[Math.Min(name.Length, 256)];
        if (name.Length > nameBytes.Length || Encoding.ASCII.GetBytes(name, nameBytes) != name.Length)
        {
            return null;
        }
        for (var i = 0; i < _request.HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(_request.Name(i), nameBytes))
            {
                return Encoding.ASCII.GetString(_request.Value(i));
            }
        }
        return null;
    }

    public string? Cookie(string name)
    {
        for (var i = 0; i < _request.HeaderCount; i++)
        {
            if (!Ascii.EqualsIgnoreCase(_request.Name(i), "Cookie"u8))
            {
                continue;
            }
            var value = _request.Value(i);
            foreach (var range in value.Split((byte)';'))
            {
                var pair = value[range].Trim(" \t"u8);
                var equals = pair.IndexOf((byte)'=');
                if (equals > 0 && Ascii.EqualsIgnoreCase(pair[..equals].Trim(" \t"u8), name))
                {
                    return Encoding.ASCII.GetString(pair[(equals + 1)..].Trim(" \t"u8));
                }
            }
        }
        return null;
    }

    private void SetDeadline(int phase, TimeSpan timeout)
    {
        Volatile.Write(ref _phase, phase);
        Volatile.Write(ref _deadline, phase == PhaseNone ? 0 : Environment.TickCount64 + (long)timeout.TotalMilliseconds);
    }

    /// <summary>Called by the handler's clock once a second.</summary>
    public void CheckDeadline(long now)
    {
        var deadline = Volatile.Read(ref _deadline);
        if (deadline == 0 || now < deadline)
        {
            return;
        }
        Volatile.Write(ref _deadline, 0);
        switch (Volatile.Read(ref _phase))
        {
            case PhaseClient:
                _clientTimedOut = true;
                _input.CancelPendingRead();
                break;
            case PhaseBackend:
                _backendTimedOut = true;
                _backend?.Abort();
                break;
        }
    }

    private void RequestClose()
    {
        _closing = true;
        if (Volatile.Read(ref _phase) == PhaseClient)
        {
            _input.CancelPendingRead();
        }
    }

    private void AbortForDrain()
    {
        _drained = true;
        _backend?.Abort();
        _connection.Abort(new ConnectionAbortedException("backend drained"));
    }

    public void Dispose()
    {
        _closingRegistration.Dispose();
        ArrayPool<byte>.Shared.Return(_send);
        _backend?.Dispose();
    }

    private readonly record struct Outcome(ForwardOutcome Kind)
    {
        public int Status { get; init; }

        public bool KeepAlive { get; init; }

        public bool ResponseStarted { get; init; }

        public bool TimedOut { get; init; }

        public string Error { get; init; } = string.Empty;

        public string? Reason { get; init; }

        public static Outcome Failed(ForwardOutcome kind, string error, string? reason, bool timedOut = false) =>
            new(kind) { Error = error, Reason = reason, TimedOut = timedOut };
    }
}
