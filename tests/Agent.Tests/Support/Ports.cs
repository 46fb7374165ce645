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
}
