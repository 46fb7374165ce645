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
    public static async ValueTask<Socket> ConnectAsync(DnsEndPoint endPoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout > TimeSpan.Zero)
        {
            deadline.CancelAfter(timeout);
        }
        try
        {
            await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new BackendConnectException(endPoint, timedOut: true, new TimeoutException($"connect timed out after {timeout.TotalMilliseconds:0} ms"));
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new BackendConnectException(endPoint, timedOut: false, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
