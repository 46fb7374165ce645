using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.Agent.Tests.Support;

namespace LoadBalancer.Agent.Tests.FastPath;

/// <summary>One request as a raw backend received it.</summary>
internal sealed record ReceivedRequest(long Sequence, int Connection, string RequestLine, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body, bool Complete)
{
    public bool Has(string name) => Headers.Any(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public string? Header(string name) => Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public override string ToString() =>
        RequestLine + " [" + string.Join("; ", Headers.Select(h => h.Name + ": " + h.Value)) + "] body " + Body.Length + (Complete ? "" : " (incomplete)");
}

/// <summary>One response as a raw client received it; Body is the decoded body (chunks joined).</summary>
internal sealed record ReceivedResponse(int Status, string Head, byte[] Body, bool Complete)
{
    public string Text => Encoding.Latin1.GetString(Body);
}

/// <summary>
/// A raw HTTP/1.1 backend on loopback that keeps every byte it receives and parses the requests
/// in them strictly (CRLF lines; chunked when Transfer-Encoding says so, else Content-Length),
/// answering each with 200 and "METHOD TARGET" as the body unless told otherwise. A request cut off
/// by the connection's end is recorded as incomplete and never answered.
/// </summary>
internal sealed class RecordingBackend : IAsyncDisposable
{
    private readonly TestTcpBackend _server;
    private readonly List<ReceivedRequest> _requests = [];
    private readonly List<List<byte>> _raw = [];
    private readonly Func<ReceivedRequest, byte[]?> _answer;
    private long _sequence;
    private long _clearedAt;

    private RecordingBackend(Func<ReceivedRequest, byte[]?>? answer)
    {
        _answer = answer ?? Echo;
        _server = TestTcpBackend.Start(ServeAsync);
    }

    public int Port => _server.Port;

    public int Accepted => _server.Accepted;

    /// <param name="answer">The bytes to answer a request with; null closes the connection without answering.</param>
    public static RecordingBackend Start(Func<ReceivedRequest, byte[]?>? answer = null) => new(answer);

    public IReadOnlyList<ReceivedRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                // A request begun before Clear (recorded late, when its connection ended) belongs to an earlier exchange.
                return [.. _requests.Where(r => r.Sequence > _clearedAt)];
            }
        }
    }

    /// <summary>Every byte received since the start, per connection, as Latin-1 text.</summary>
    public IReadOnlyList<string> Raw
    {
        get
        {
            lock (_requests)
            {
                return [.. _raw.Select(r => Encoding.Latin1.GetString([.. r]))];
            }
        }
    }

    public void Clear()
    {
        lock (_requests)
        {
            _requests.Clear();
            _clearedAt = Interlocked.Read(ref _sequence);
        }
    }

    public static byte[] Echo(ReceivedRequest request)
    {
        var body = request.RequestLine[..request.RequestLine.LastIndexOf(' ')];
        // A HEAD answer declares the length a GET would have and carries no body.
        var head = request.RequestLine.StartsWith("HEAD ", StringComparison.Ordinal);
        return Encoding.Latin1.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{(head ? "" : body)}");
    }

    private async Task ServeAsync(Socket socket)
    {
        List<byte> raw = [];
        int connection;
        lock (_requests)
        {
            connection = _raw.Count;
            _raw.Add(raw);
        }
        var reader = new ByteReader(socket, bytes =>
        {
            lock (_requests)
            {
                raw.AddRange(bytes);
            }
        })
        {
            // The agent keeps idle connections to backends open for a minute.
            Timeout = TimeSpan.FromMinutes(5),
        };
        while (true)
        {
            var request = await ReadRequestAsync(reader, connection);
            if (request is null)
            {
                return;
            }
            lock (_requests)
            {
                _requests.Add(request);
            }
            if (!request.Complete)
            {
                return;
            }
            var answer = _answer(request);
            if (answer is null)
            {
                socket.Shutdown(SocketShutdown.Both);
                return;
            }
            await socket.SendAsync(answer);
        }
    }

    private async Task<ReceivedRequest?> ReadRequestAsync(ByteReader reader, int connection)
    {
        var requestLine = await reader.ReadLineAsync();
        if (requestLine is null)
        {
            return null;
        }
        var sequence = Interlocked.Increment(ref _sequence);
        var headers = new List<(string, string)>();
        while (true)
        {
            var line = await reader.ReadLineAsync();
            if (line is null)
            {
                return new ReceivedRequest(sequence, connection, requestLine, headers, [], false);
            }
            if (line.Length == 0)
            {
                break;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(colon < 0 ? (line, "") : (line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
        }
        var partial = new ReceivedRequest(sequence, connection, requestLine, headers, [], true);
        if (partial.Header("Transfer-Encoding") is { } te && te.EndsWith("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var (body, complete) = await ReadChunkedAsync(reader);
            return partial with { Body = body, Complete = complete };
        }
        if (partial.Header("Content-Length") is { } cl && long.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            var body = await reader.ReadAsync((int)length);
            return partial with { Body = body, Complete = body.Length == length };
        }
        return partial;
    }

    internal static async Task<(byte[] Body, bool Complete)> ReadChunkedAsync(ByteReader reader)
    {
        var body = new List<byte>();
        while (true)
        {
            var sizeLine = await reader.ReadLineAsync();
            if (sizeLine is null)
            {
                return ([.. body], false);
            }
            var semicolon = sizeLine.IndexOf(';', StringComparison.Ordinal);
            if (!int.TryParse(semicolon < 0 ? sizeLine : sizeLine[..semicolon], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                // Framing this reader cannot follow: the message is not complete.
                return ([.. body], false);
            }
            if (size == 0)
            {
                while (await reader.ReadLineAsync() is { Length: > 0 })
                {
                    // Trailers.
                }
                return ([.. body], true);
            }
            var data = await reader.ReadAsync(size);
            body.AddRange(data);
            if (data.Length < size || await reader.ReadLineAsync() is null)
            {
                return ([.. body], false);
            }
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>Buffered reads from a socket: CRLF lines and exact counts; a close or reset ends the input.</summary>
internal sealed class ByteReader(Socket socket, Action<ReadOnlySpan<byte>>? record = null)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A line without its CRLF; null at the end of input. A bare LF is kept in the line, so it shows.</summary>
    public async Task<string?> ReadLineAsync()
    {
        var line = new List<byte>();
        while (true)
        {
            if (_start == _end && !await FillAsync())
            {
                return null;
            }
            var b = _buffer[_start++];
            if (b == '\n' && line.Count > 0 && line[^1] == '\r')
            {
                line.RemoveAt(line.Count - 1);
                return Encoding.Latin1.GetString([.. line]);
            }
            line.Add(b);
        }
    }

    /// <summary>Up to <paramref name="count"/> bytes: fewer only when the input ended.</summary>
    public async Task<byte[]> ReadAsync(int count)
    {
        var result = new List<byte>(count);
        while (result.Count < count)
        {
            if (_start == _end && !await FillAsync())
            {
                break;
            }
            var take = Math.Min(count - result.Count, _end - _start);
            result.AddRange(_buffer.AsSpan(_start, take));
            _start += take;
        }
        return [.. result];
    }

    public async Task<byte[]> ReadToEndAsync()
    {
        var result = new List<byte>();
        while (_start < _end || await FillAsync())
        {
            result.AddRange(_buffer.AsSpan(_start, _end - _start));
            _start = _end;
        }
        return [.. result];
    }

    private async Task<bool> FillAsync()
    {
        if (_eof)
        {
            return false;
        }
        using var cts = new CancellationTokenSource(Timeout);
        int read;
        try
        {
            read = await socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
        }
        catch (SocketException)
        {
            read = 0;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the peer sent nothing and did not close within {Timeout.TotalSeconds:0} s");
        }
        if (read == 0)
        {
            _eof = true;
            return false;
        }
        record?.Invoke(_buffer.AsSpan(0, read));
        _start = 0;
        _end = read;
        return true;
    }
}

/// <summary>A raw client connection to a listener: sends bytes as given, reads responses strictly.</summary>
internal sealed class RawClient : IDisposable
{
    private readonly Socket _socket = new(SocketType.Stream, ProtocolType.Tcp);
    private ByteReader _reader = null!;

    public static async Task<RawClient> ConnectAsync(int port, TimeSpan? timeout = null)
    {
        var client = new RawClient();
        await client._socket.ConnectAsync(IPAddress.Loopback, port);
        client._reader = new ByteReader(client._socket) { Timeout = timeout ?? TimeSpan.FromSeconds(15) };
        return client;
    }

    public Socket Socket => _socket;

    public async Task SendAsync(string text) => await _socket.SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes);

    /// <summary>The next response; null when the connection ended before a status line.</summary>
    public async Task<ReceivedResponse?> ReadResponseAsync(bool headRequest = false)
    {
        var statusLine = await _reader.ReadLineAsync();
        if (statusLine is null)
        {
            return null;
        }
        var head = new StringBuilder(statusLine).Append("\r\n");
        long? length = null;
        var chunked = false;
        while (true)
        {
            var line = await _reader.ReadLineAsync();
            if (line is null)
            {
                return new ReceivedResponse(Status(statusLine), head.ToString(), [], false);
            }
            head.Append(line).Append("\r\n");
            if (line.Length == 0)
            {
                break;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                length = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Equals("chunked", StringComparison.OrdinalIgnoreCase);
            }
        }
        var status = Status(statusLine);
        if (headRequest || status is < 200 or 204 or 304)
        {
            return new ReceivedResponse(status, head.ToString(), [], true);
        }
        if (chunked)
        {
            var (body, complete) = await RecordingBackend.ReadChunkedAsync(_reader);
            return new ReceivedResponse(status, head.ToString(), body, complete);
        }
        if (length is { } n)
        {
            var body = await _reader.ReadAsync((int)n);
            return new ReceivedResponse(status, head.ToString(), body, body.Length == n);
        }
        // Delimited by the close: complete only if the connection ended cleanly, which a reader cannot tell from a reset.
        return new ReceivedResponse(status, head.ToString(), await _reader.ReadToEndAsync(), true);
    }

    /// <summary>True once the agent closed the connection (nothing more to read).</summary>
    public async Task<bool> ClosedAsync() => (await _reader.ReadToEndAsync()).Length == 0;

    /// <summary>Whatever is left until the agent closes.</summary>
    public Task<byte[]> RestAsync() => _reader.ReadToEndAsync();

    private static int Status(string statusLine) =>
        statusLine.Length >= 12 && int.TryParse(statusLine.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : -1;

    public void Dispose() => _socket.Dispose();
}

/// <summary>
/// Two in-process agents serving the same listener config, one with the fast path and one with
/// everything through YARP (--http-fast-path off), each in front of its own recording backend.
/// </summary>
public sealed class TwoAgents : IAsyncLifetime
{
    internal InProcessAgent Fast { get; private set; } = null!;

    internal InProcessAgent Yarp { get; private set; } = null!;

    internal RecordingBackend FastBackend { get; } = RecordingBackend.Start();

    internal RecordingBackend YarpBackend { get; } = RecordingBackend.Start();

    internal int FastPort { get; private set; }

    internal int YarpPort { get; private set; }

    public async Task InitializeAsync()
    {
        Fast = await InProcessAgent.StartAsync("edge", fastPath: true);
        Yarp = await InProcessAgent.StartAsync("edge", fastPath: false);
        FastPort = await ServeAsync(Fast, FastBackend);
        YarpPort = await ServeAsync(Yarp, YarpBackend);
    }

    private static async Task<int> ServeAsync(InProcessAgent agent, RecordingBackend backend)
    {
        var port = Ports.Free();
        var outcome = (await agent.ApplyAsync(
            [TestConfigs.Http("web", port, TestConfigs.Route("app"))],
            [TestConfigs.Pool("app", [TestConfigs.Backend("b", backend.Port)])])).Single();
        Assert.True(outcome.Programmed, outcome.Reason);
        return port;
    }

    internal (int Port, RecordingBackend Backend) Path(bool fastPath) => fastPath ? (FastPort, FastBackend) : (YarpPort, YarpBackend);

    public async Task DisposeAsync()
    {
        await Fast.DisposeAsync();
        await Yarp.DisposeAsync();
        await FastBackend.DisposeAsync();
        await YarpBackend.DisposeAsync();
    }
}
