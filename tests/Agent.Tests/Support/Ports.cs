using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.Agent.Tests.Support;

internal static class Ports
{
    /// <summary>A loopback port that was free a moment ago (nothing listens on it now).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>
    /// A loopback port that refuses connections for as long as the result lives: bound but not
    /// listening, so no other test can take it and no outgoing connection gets it as its source
    /// port (a "free" port could be either, and a connect to it then succeed).
    /// </summary>
    public static RefusingPort Refusing()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new RefusingPort(socket);
    }
}

internal sealed class RefusingPort(Socket socket) : IDisposable
{
    public int Port { get; } = ((IPEndPoint)socket.LocalEndPoint!).Port;

    public void Dispose() => socket.Dispose();
}
