using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LoadBalancer.EndToEnd.Tests.Routing;

/// <summary>
/// An HTTP/1.1 backend on a bare socket, so a test sees the request head exactly as the agent
/// sent it (no server framework normalising it). It answers every request 200 with X-Backend
/// (its name) and X-Backend-Secret, keeps connections alive, and keeps the last heads it read.
/// A request for a path under /hold is never answered: the connection stays open until the agent gives up.
/// </summary>
public sealed class RawHttpBackend : IAsyncDisposable
{
    private const int KeptHeads = 64;

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<string> _heads = new();
    private readonly byte[] _response;
    private int _requests;

    private RawHttpBackend(string name, TcpListener listener)
    {
        Name = name;
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _response = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nX-Backend: {name}\r\nX-Backend-Secret: s3cret\r\nContent-Length: 2\r\n\r\nok");
        _loop = AcceptLoopAsync();
    }

    public string Name { get; }

    public int Port { get; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The most recent request heads, oldest first.</summary>
    public IReadOnlyList<string> Heads => [.. _heads];

    public static RawHttpBackend Start(string name)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(512);
        return new RawHttpBackend(name, listener);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                _ = ServeAsync(socket);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                int end;
                while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return;
                    }
                    filled += read;
                }
                var head = Encoding.ASCII.GetString(buffer, 0, end + 4);
                var consumed = end + 4 + ContentLength(head);
                while (filled < consumed)
                {
                    var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return;
                    }
                    filled += read;
                }
                buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                filled -= consumed;
                Interlocked.Increment(ref _requests);
                _heads.Enqueue(head);
                while (_heads.Count > KeptHeads)
                {
                    _heads.TryDequeue(out var _);
                }
                if (head.StartsWith("GET /hold", StringComparison.Ordinal))
                {
                    while (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false) > 0)
                    {
                    }
                    return;
                }
                await socket.SendAsync(_response, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The agent closed the connection, or the test is over.
        }
    }

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line.AsSpan("Content-Length:".Length).Trim(), CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
