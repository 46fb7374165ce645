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

    /// <summary>Exactly <paramref name="count"/> bytes; fails if the peer closes or stalls first.</summary>
    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token);
            if (read == 0)
            {
                throw new IOException($"the peer closed after {filled} of {count} bytes");
            }
            filled += read;
        }
        return buffer;
    }

    /// <summary>An HTTP/1.1 message head up to its blank line, read byte by byte so nothing after it is consumed; null when the peer closed first.</summary>
    public static async Task<string?> ReadHttpHeadAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var head = new System.Text.StringBuilder();
        var one = new byte[1];
        while (head.Length < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, cts.Token) == 0)
            {
                return null;
            }
            head.Append((char)one[0]);
        }
        return head.ToString();
    }
}
