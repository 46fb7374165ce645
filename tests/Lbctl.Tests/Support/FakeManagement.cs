using Google.Protobuf;
using Grpc.Core;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>
/// Stands in for the channel: answers unary calls by method name ("GetBackend") with a
/// handler, server streams with an async sequence, and records every request with its
/// headers. Lets the verbs be tested end to end inside the CLI without a server.
/// </summary>
internal sealed class FakeManagement : CallInvoker
{
    private readonly Dictionary<string, Func<IMessage, IMessage>> _handlers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<IMessage, CallOptions, IAsyncEnumerable<IMessage>>> _streams = new(StringComparer.Ordinal);

    private readonly Dictionary<string, Metadata> _responseHeaders = new(StringComparer.Ordinal);

    public List<(string Method, IMessage Request, Metadata? Headers)> Calls { get; } = [];

    /// <summary>Response headers a unary method answers with (the server's lb-warning, for one).</summary>
    public FakeManagement WithResponseHeader(string method, string key, string value)
    {
        if (!_responseHeaders.TryGetValue(method, out var headers))
        {
            _responseHeaders[method] = headers = [];
        }
        headers.Add(key, value);
        return this;
    }

    public FakeManagement On<TRequest>(string method, Func<TRequest, IMessage> handler) where TRequest : IMessage
    {
        _handlers[method] = request => handler((TRequest)request);
        return this;
    }

    /// <summary>Answers a server-streaming method; the sequence may throw an RpcException to break the stream.</summary>
    public FakeManagement OnStream<TRequest>(string method, Func<TRequest, CallOptions, IAsyncEnumerable<IMessage>> handler) where TRequest : IMessage
    {
        _streams[method] = (request, options) => handler((TRequest)request, options);
        return this;
    }

    public IEnumerable<TRequest> Requests<TRequest>(string method) =>
        Calls.Where(c => c.Method == method).Select(c => (TRequest)c.Request);

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var message = (IMessage)request;
        Calls.Add((method.Name, message, options.Headers));
        Task<TResponse> response;
        try
        {
            var handler = _handlers.TryGetValue(method.Name, out var h)
                ? h
                : throw new RpcException(new Grpc.Core.Status(StatusCode.Unimplemented, $"fake has no handler for {method.Name}"));
            response = Task.FromResult((TResponse)handler(message));
        }
        catch (RpcException ex)
        {
            response = Task.FromException<TResponse>(ex);
        }
        return new AsyncUnaryCall<TResponse>(response, Task.FromResult(_responseHeaders.GetValueOrDefault(method.Name) ?? []), () => Grpc.Core.Status.DefaultSuccess, () => [], () => { });
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var message = (IMessage)request;
        Calls.Add((method.Name, message, options.Headers));
        var handler = _streams.TryGetValue(method.Name, out var h)
            ? h
            : throw new RpcException(new Grpc.Core.Status(StatusCode.Unimplemented, $"fake has no stream for {method.Name}"));
        var reader = new SequenceReader<TResponse>(handler(message, options).GetAsyncEnumerator(options.CancellationToken));
        return new AsyncServerStreamingCall<TResponse>(reader, Task.FromResult(new Metadata()), () => Grpc.Core.Status.DefaultSuccess, () => [], reader.Dispose);
    }

    private sealed class SequenceReader<T>(IAsyncEnumerator<IMessage> messages) : IAsyncStreamReader<T>
    {
        public T Current => (T)messages.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return await messages.MoveNextAsync();
        }

        public void Dispose() => _ = messages.DisposeAsync().AsTask();
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException();

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException();
}
