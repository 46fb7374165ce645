using System.Net;
using System.Net.Sockets;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>A real TCP server on 127.0.0.1 and a free port; each accepted socket is given to the handler.</summary>
internal sealed class TestTcpBackend : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _accepted;

    private TestTcpBackend(Func<Socket, Task> handler)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(() => AcceptAsync(handler));
    }

    public int Port { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    public static TestTcpBackend Start(Func<Socket, Task> handler) => new(handler);

    /// <summary>Greets with "<paramref name="name"/>\n", then echoes until the client half-closes.</summary>
    public static TestTcpBackend Greeter(string name) => new(async socket =>
    {
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(name + "\n"));
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read));
        }
    });

    private async Task AcceptAsync(Func<Socket, Task> handler)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(Task.Run(async () =>
                {
                    using (socket)
                    {
                        try
                        {
                            await handler(socket);
                        }
                        catch (SocketException)
                        {
                            // The proxy went away mid-conversation; the test asserts what it needs.
                        }
                    }
                }));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAny(Task.WhenAll(connections), Task.Delay(TimeSpan.FromSeconds(2)));
        _stop.Dispose();
    }
}
