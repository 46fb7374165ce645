using System.Buffers;
using System.Net;
using LoadBalancer.Agent.Tcp.ProxyProtocol;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancer.Agent.Listeners;

/// <summary>
/// Who may use an http or https listener, decided per connection by Kestrel connection middleware
/// ahead of TLS: first the PROXY protocol (the header is taken off, leaving what follows in the
/// pipe, and its client becomes the connection's remote end point, which the fast path, YARP's
/// path, X-Forwarded-For, persistence and the access log all read), then the listener's allow and
/// deny lists against that client. The listener's current config is read per connection, so a
/// change applies to the next connection without rebinding.
/// </summary>
internal static class ClientAdmission
{
    public static Task HandleAsync(ConnectionContext connection, ConnectionDelegate next, ListenerState state, Metrics.AgentMetrics metrics)
    {
        var config = state.Config;
        if (config.ProxyProtocolTrustedSources is null && config.Allow is null && config.Deny is null)
        {
            return next(connection);
        }
        return AdmitAsync(connection, next, config, metrics);
    }

    private static async Task AdmitAsync(ConnectionContext connection, ConnectionDelegate next, Config.ListenerConfig config, Metrics.AgentMetrics metrics)
    {
        var peer = connection.RemoteEndPoint as IPEndPoint;
        if (config.ProxyProtocolTrustedSources is { } trusted)
        {
            if (peer is null || !trusted.Contains(peer.Address))
            {
                metrics.ProxyProtocolRefused.WithLabels(config.Name, "untrusted").Inc();
                return;
            }
            var read = await ReadAsync(connection).ConfigureAwait(false);
            if (read.Header is not { } header)
            {
                metrics.ProxyProtocolRefused.WithLabels(config.Name, read.Failure).Inc();
                return;
            }
            if (header.Source is { } source)
            {
                connection.RemoteEndPoint = peer = source;
                connection.LocalEndPoint = header.Destination;
            }
        }
        if (peer is null || !config.Admits(peer.Address))
        {
            metrics.ConnectionsDenied.WithLabels(config.Name).Inc();
            return;
        }
        await next(connection).ConfigureAwait(false);
    }

    private static async Task<ProxyHeaderRead> ReadAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        deadline.CancelAfter(Tcp.TcpProxyHandler.ProxyHeaderTimeout);
        var scratch = ArrayPool<byte>.Shared.Rent(ProxyHeader.MaxLength);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(deadline.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var length = (int)Math.Min(buffer.Length, ProxyHeader.MaxLength);
                buffer.Slice(0, length).CopyTo(scratch);
                switch (ProxyHeader.TryParse(scratch.AsSpan(0, length), out var header))
                {
                    case ProxyHeaderStatus.Complete:
                        // Only the header is consumed: TLS or HTTP reads the rest.
                        input.AdvanceTo(buffer.GetPosition(header!.Length));
                        return ProxyHeaderRead.Of(header);
                    case ProxyHeaderStatus.Incomplete when !result.IsCompleted && length < ProxyHeader.MaxLength:
                        input.AdvanceTo(buffer.Start, buffer.End);
                        continue;
                    case ProxyHeaderStatus.Incomplete:
                        input.AdvanceTo(buffer.Start, buffer.End);
                        return result.IsCompleted ? ProxyHeaderRead.Closed : ProxyHeaderRead.Invalid;
                    default:
                        input.AdvanceTo(buffer.Start, buffer.End);
                        return ProxyHeaderRead.Invalid;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return connection.ConnectionClosed.IsCancellationRequested ? ProxyHeaderRead.Closed : ProxyHeaderRead.TimedOut;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
