using System.Buffers;
using System.Net;
using LoadBalancer.Agent.Tcp.ProxyProtocol;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancer.Agent.Listeners;

/// <summary>
/// The PROXY protocol on http and https listeners: Kestrel connection middleware ahead of TLS that
/// takes the header off (leaving what follows in the pipe) and makes its source the connection's
/// remote end point, which the fast path, YARP's path, X-Forwarded-For, persistence and the access
/// log all read. The listener's current config is read per connection, so a change applies to the
/// next connection without rebinding.
/// </summary>
internal static class ProxyProtocolAccept
{
    public static async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next, ListenerState state, Metrics.AgentMetrics metrics)
    {
        if (state.Config.ProxyProtocol is not { } accept)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }
        var listener = state.Config.Name;
        if (connection.RemoteEndPoint is not IPEndPoint peer || !accept.Trusts(peer.Address))
        {
            metrics.ProxyProtocolRefused.WithLabels(listener, "untrusted").Inc();
            return;
        }
        var read = await ReadAsync(connection).ConfigureAwait(false);
        if (read.Header is not { } header)
        {
            metrics.ProxyProtocolRefused.WithLabels(listener, read.Failure).Inc();
            return;
        }
        if (header.Source is { } source)
        {
            connection.RemoteEndPoint = source;
            connection.LocalEndPoint = header.Destination;
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
