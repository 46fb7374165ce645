using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.EndToEnd.Tests.Health;

/// <summary>
/// A backend that accepts a connection, reads the request's first bytes and resets the
/// connection without answering: the request reached a backend, and no response byte came.
/// Counts the requests it saw so a test can tell where a request went.
/// </summary>
public sealed class ResettingBackend : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _requests;

    private ResettingBackend(TcpListener listener)
    {
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _loop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Connections that sent request bytes before being reset.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public static ResettingBackend Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new ResettingBackend(listener);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                _ = ResetAsync(socket);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task ResetAsync(Socket socket)
    {
        try
        {
            var buffer = new byte[4096];
            if (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false) > 0)
            {
                Interlocked.Increment(ref _requests);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            // Closed below either way.
        }
        // Linger 0: close with RST, not FIN.
        socket.LingerState = new LingerOption(true, 0);
        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
