using System.Net.Sockets;

namespace LoadBalancer.Agent.Tests.Support;

internal static class SocketReads
{
    /// <summary>
    /// Everything the peer sends until it closes (FIN); a reset counts as the end too, keeping
    /// what arrived before it (a TLS alert, a proxied answer). Fails if the peer never closes.
    /// </summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new List<byte>();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            {
                received.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (SocketException)
        {
            // Reset: what arrived before it is the answer.
        }
        return [.. received];
    }
}
