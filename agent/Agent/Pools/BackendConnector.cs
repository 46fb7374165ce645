using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.Agent.Pools;

/// <summary>The one way the agent opens a connection to a backend, for HTTP pools and TCP listeners alike.</summary>
public static class BackendConnector
{
    /// <summary>
    /// Connects within <paramref name="timeout"/> (none when zero). A refusal or the timeout
    /// passing is a <see cref="BackendConnectException"/>; the caller's own cancellation is
    /// passed on as it is, since a client leaving is not the backend's fault.
    /// </summary>
    public static ValueTask<Socket> ConnectAsync(DnsEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken) =>
        ConnectAsync(endPoint.Host, endPoint.Port, timeout, cancellationToken);

    /// <inheritdoc cref="ConnectAsync(DnsEndPoint, TimeSpan, CancellationToken)"/>
    public static async ValueTask<Socket> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // An address literal (the usual backend) is connected to as it is: a socket of its own
        // family and a single connect, instead of the name-resolution path of a DnsEndPoint
        // (a dual-mode socket and a multi-address connect loop per connection).
        EndPoint target;
        Socket socket;
        if (IPAddress.TryParse(host, out var address))
        {
            target = new IPEndPoint(address, port);
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        }
        else
        {
            target = new DnsEndPoint(host, port);
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        }

        // Linked only when the caller can cancel: otherwise one plain source with its timer.
        var deadline = timeout <= TimeSpan.Zero
            ? null
            : cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : new CancellationTokenSource();
        deadline?.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(target, deadline?.Token ?? cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw BackendConnectException.TimeoutPassed(host, port, timeout);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new BackendConnectException(new DnsEndPoint(host, port), timedOut: false, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            deadline?.Dispose();
        }
    }
}
