using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

public static class Ports
{
    private static readonly HashSet<int> Handed = [];

    /// <summary>A loopback port that nothing listens on now and that this run has not handed out before.</summary>
    public static int Free()
    {
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            lock (Handed)
            {
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>
    /// A loopback port that refuses connections for as long as the result lives: bound but not
    /// listening, so nothing else can take it and no outgoing connection gets it as its source
    /// port (a connect to a merely free port can then succeed, to itself).
    /// </summary>
    public static RefusingPort Refusing()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new RefusingPort(socket);
    }
}

public sealed class RefusingPort(Socket socket) : IDisposable
{
    public int Port { get; } = ((IPEndPoint)socket.LocalEndPoint!).Port;

    public void Dispose() => socket.Dispose();
}
