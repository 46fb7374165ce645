using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.Testing;

/// <summary>
/// A loopback port where a connect neither succeeds nor fails, so connectTimeout decides: a
/// listener that never accepts, with its accept queue filled, makes the kernel drop new SYNs.
/// Shared by the agent's unit tests (linked) and the end-to-end tests.
/// </summary>
public sealed class SynBlackHole : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _queued = [];

    private SynBlackHole(Socket listener)
    {
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public static SynBlackHole Start()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var hole = new SynBlackHole(listener);
        // Fill the queue until a connect hangs: that is the state the tests need, observed
        // rather than assumed from the backlog arithmetic.
        for (var i = 0; i < 64; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                socket.ConnectAsync(IPAddress.Loopback, hole.Port, timeout.Token).AsTask().GetAwaiter().GetResult();
                hole._queued.Add(socket);
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                return hole;
            }
        }
        hole.Dispose();
        throw new InvalidOperationException("connects to a listener that never accepts kept succeeding: no port that drops SYNs");
    }

    public void Dispose()
    {
        foreach (var socket in _queued)
        {
            socket.Dispose();
        }
        _listener.Dispose();
    }
}
