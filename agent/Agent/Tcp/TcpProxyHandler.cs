using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace LoadBalancer.Agent.Tcp;

/// <summary>
/// The L4 path: a Kestrel connection handler that picks a backend with the pool's balancer
/// (the same core as HTTP), connects within connectTimeout (trying another backend on failure,
/// up to retries, before the client sees anything), then pumps bytes both ways until both
/// sides have closed. A half-close is passed on in both directions (from the backend only on
/// Kestrel's socket transport, which exposes its socket).
/// </summary>
internal sealed partial class TcpProxyHandler(PoolRegistry pools, HealthMonitor health, BackendActivity activity, Metrics.AgentMetrics metrics, ILogger<TcpProxyHandler> logger)
{
    private const int BufferSize = 64 * 1024;

    public async Task HandleAsync(ConnectionContext client, ListenerState state)
    {
        var config = state.Config;
        var pool = pools.Find(config.Pool);
        if (pool is null)
        {
            client.Abort(new ConnectionAbortedException("pool is not available"));
            return;
        }
        await pool.WhenWarmAsync(client.ConnectionClosed).ConfigureAwait(false);

        var context = Proxy.HttpHashKeys.ForAddress((client.RemoteEndPoint as IPEndPoint)?.Address);
        var attempts = 1 + pool.Config.Retries;
        // source-ip persistence: the client's address stays on its backend while that one drains.
        var balancer = pool.StickyBalancer ?? pool.Balancer;
        var sticky = pool.StickyOwner(context);
        var failed = default(FailedBackends);
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            // Entered at the pick: concurrent picks under least-connections must see the
            // connections still being opened.
            var backend = pool.PickAndEnter(balancer, context, failed, sticky, out var failedOpen);
            FailOpenLog.Note(pool, failedOpen, metrics, logger);
            if (backend is null)
            {
                Log.NoBackend(logger, config.Name, pool.Name);
                client.Abort(new ConnectionAbortedException("no backend available"));
                return;
            }

            var socket = await ConnectAsync(backend, pool.Config.ConnectTimeout).ConfigureAwait(false);
            if (socket is null)
            {
                backend.Leave();
                health.ReportPassive(backend, false, "connect failed");
                failed.Add(backend);
                continue;
            }
            health.ReportPassive(backend, true);

            var counters = metrics.Tcp(backend);
            counters.Connections.Inc();
            counters.Open.Inc();
            try
            {
                using var registration = activity.Register(backend, () =>
                {
                    client.Abort(new ConnectionAbortedException("backend drained"));
                    socket.Dispose();
                });
                await PumpAsync(client, socket, pool.Config.IdleTimeout, counters).ConfigureAwait(false);
            }
            finally
            {
                counters.Open.Dec();
                backend.Leave();
                socket.Dispose();
            }
            return;
        }
        client.Abort(new ConnectionAbortedException("no backend accepted the connection"));
    }

    private async Task<Socket?> ConnectAsync(BackendState backend, TimeSpan timeout)
    {
        try
        {
            // Not cancelled by the client's ConnectionClosed: Kestrel fires it on the client's FIN,
            // and a client that sends its request and half-closes at once (nc -N, a one-shot
            // script) is still waiting for the answer. connectTimeout bounds the wait.
            return await BackendConnector.ConnectAsync(new DnsEndPoint(backend.Host, backend.Port), timeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (BackendConnectException ex)
        {
            Log.ConnectFailed(logger, backend.Pool, backend.Name, ex.TimedOut ? "timeout" : ex.InnerException!.Message);
            return null;
        }
    }

    private static async Task PumpAsync(ConnectionContext client, Socket backend, TimeSpan idleTimeout, Metrics.AgentMetrics.TcpChildren counters)
    {
        using var idle = new IdleWatch(idleTimeout, client, backend);
        // Completing Kestrel's output pipe shuts the client socket down both ways and disposes it
        // (SocketConnection.Shutdown), so a backend's FIN cannot be passed on through the pipe.
        // Kestrel's socket transport exposes its socket: with it, this direction writes to the
        // socket itself (Kestrel's send loop stays idle, nothing is written to its pipe) and a
        // backend FIN becomes Shutdown(Send) while the client may still write.
        var clientSocket = client.Features.Get<IConnectionSocketFeature>()?.Socket;
        var toBackend = ClientToBackendAsync(client.Transport.Input, backend, idle, counters.BytesToBackend);
        var toClient = clientSocket is not null
            ? BackendToClientSocketAsync(backend, clientSocket, idle, counters.BytesToClient)
            : BackendToClientPipeAsync(backend, client.Transport.Output, idle, counters.BytesToClient);
        var first = await Task.WhenAny(toBackend, toClient).ConfigureAwait(false);
        if (first == toClient && !await toClient.ConfigureAwait(false))
        {
            // The backend closed and that could not be passed on as a half-close: nothing more
            // can be answered, so end the client side too.
            client.Transport.Input.CancelPendingRead();
        }
        await Task.WhenAll(toBackend, toClient).ConfigureAwait(false);
        // Only now: completing the output closes the client socket in both directions.
        await client.Transport.Output.CompleteAsync().ConfigureAwait(false);
    }

    private static async Task ClientToBackendAsync(PipeReader input, Socket backend, IdleWatch idle, Prometheus.Counter.Child bytes)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await backend.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                }
                bytes.Inc(buffer.Length);
                idle.Touch();
                input.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            // Half-close: the client is done sending; the backend may still answer.
            backend.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or ConnectionResetException or IOException or InvalidOperationException)
        {
            // Either side went away; the other direction ends on its own.
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Backend to client socket; true when the backend's FIN was passed on as a half-close.</summary>
    private static async Task<bool> BackendToClientSocketAsync(Socket backend, Socket client, IdleWatch idle, Prometheus.Counter.Child bytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var read = await backend.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    client.Shutdown(SocketShutdown.Send);
                    return true;
                }
                idle.Touch();
                bytes.Inc(read);
                await client.SendAsync(buffer.AsMemory(0, read), SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Either side went away (or was aborted: drain, idle); the other direction ends on its own.
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Backend to Kestrel's output pipe, for transports without a socket; never a half-close.</summary>
    private static async Task<bool> BackendToClientPipeAsync(Socket backend, PipeWriter output, IdleWatch idle, Prometheus.Counter.Child bytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var read = await backend.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                idle.Touch();
                bytes.Inc(read);
                var flush = await output.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or ConnectionResetException or IOException or InvalidOperationException)
        {
            // Either side went away; the other direction ends on its own.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return false;
    }

    /// <summary>Closes both sides when nothing moved for idleTimeout (off when zero).</summary>
    private sealed class IdleWatch : IDisposable
    {
        private readonly Timer? _timer;
        private long _lastActivity = Environment.TickCount64;

        public IdleWatch(TimeSpan timeout, ConnectionContext client, Socket backend)
        {
            if (timeout <= TimeSpan.Zero)
            {
                return;
            }
            var period = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 4, 50, 5000));
            _timer = new Timer(
                _ =>
                {
                    if (Environment.TickCount64 - Volatile.Read(ref _lastActivity) >= timeout.TotalMilliseconds)
                    {
                        client.Abort(new ConnectionAbortedException("idle timeout"));
                        backend.Dispose();
                    }
                },
                null,
                period,
                period);
        }

        public void Touch()
        {
            if (_timer is not null)
            {
                Volatile.Write(ref _lastActivity, Environment.TickCount64);
            }
        }

        public void Dispose() => _timer?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Connect to {Pool}/{Backend} failed: {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string pool, string backend, string reason);

        [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Listener {Listener}: no backend of {Pool} available")]
        public static partial void NoBackend(ILogger logger, string listener, string pool);
    }
}
