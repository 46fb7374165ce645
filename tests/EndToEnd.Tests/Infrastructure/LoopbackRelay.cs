using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Relays every connection a listening socket accepts to a loopback port, bytes both ways, a
/// half-close passed on: puts a listener the test controls (an opened <c>SynBlackHole</c>, whose
/// first connects arrive late) in front of a real server.
/// </summary>
public sealed class LoopbackRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _relays = [];
    private readonly Task _loop;

    private LoopbackRelay(Socket listener, int target)
    {
        _listener = listener;
        _target = target;
        _loop = AcceptLoopAsync();
    }

    /// <summary>Starts accepting on <paramref name="listener"/> (which stays its owner's) for <paramref name="target"/>.</summary>
    public static LoopbackRelay Start(Socket listener, int target) => new(listener, target);

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                _relays.Add(RelayAsync(client));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, _target, connection.Token).ConfigureAwait(false);
            await Task.WhenAll(PumpAsync(client, server, connection), PumpAsync(server, client, connection)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            // The server refused, or the relay stopped: the client sees its connection close.
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Copies until <paramref name="from"/> half-closes, then half-closes <paramref name="to"/>; an error ends both directions.</summary>
    private static async Task PumpAsync(Socket from, Socket to, CancellationTokenSource connection)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, connection.Token).ConfigureAwait(false)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, connection.Token).ConfigureAwait(false);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            // A reset on either side: the other direction has nothing left to carry.
            await connection.CancelAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await Task.WhenAll(_relays).ConfigureAwait(false);
        _stop.Dispose();
    }
}
