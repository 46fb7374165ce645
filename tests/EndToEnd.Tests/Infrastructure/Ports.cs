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
}
