using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.Testing;

/// <summary>
/// A loopback port where a connect neither succeeds nor fails, so connectTimeout decides: a
/// listener that never accepts, with its accept queue filled, makes the kernel drop new SYNs.
/// Opened (<see cref="Open"/>), it becomes a port whose first connects arrive late: each one
/// dropped meanwhile gets in at its next SYN retransmission, which the kernel sends a second or
/// more apart. Shared by the agent's unit tests (linked) and the end-to-end tests.
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

    /// <summary>
    /// The connects now waiting on this port, each as how often its SYN was retransmitted: the
    /// sockets of this machine in SYN-SENT towards 127.0.0.1 at this port (/proc/net/tcp, and
    /// tcp6 for dual-mode sockets). A connect whose first SYN was dropped shows 0, then 1...
    /// </summary>
    public IReadOnlyList<int> WaitingConnects()
    {
        const string SynSent = "02";
        var port = Port.ToString("X4", CultureInfo.InvariantCulture);
        string[] loopback = ["0100007F:" + port, "0000000000000000FFFF00000100007F:" + port];
        var retransmissions = new List<int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
            foreach (var fields in File.ReadLines(table).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
            {
                if (fields[3] == SynSent && loopback.Contains(fields[2]))
                {
                    retransmissions.Add(int.Parse(fields[6], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }
        return retransmissions;
    }

    /// <summary>
    /// Stops dropping SYNs: takes the fillers off the accept queue and returns the listener, which
    /// takes connections from now on and is still disposed with this object. The queue is first
    /// in, first out, so the fillers come off before any connect that got in since.
    /// </summary>
    public Socket Open()
    {
        var fillers = _queued.Select(s => s.LocalEndPoint).ToHashSet();
        for (var i = 0; i < _queued.Count; i++)
        {
            if (!_listener.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead))
            {
                throw new InvalidOperationException("a queue filler was not on the accept queue");
            }
            using var accepted = _listener.Accept();
            if (!fillers.Contains(accepted.RemoteEndPoint))
            {
                throw new InvalidOperationException($"{accepted.RemoteEndPoint} got in before the queue fillers came off");
            }
        }
        foreach (var socket in _queued)
        {
            socket.Dispose();
        }
        _queued.Clear();
        return _listener;
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
