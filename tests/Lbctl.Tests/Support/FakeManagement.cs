using Google.Protobuf;
using Grpc.Core;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>
/// Stands in for the channel: answers unary calls by method name ("GetBackend") with a
/// handler, and records every request with its headers. Lets the verbs be tested end to end
/// inside the CLI without a server.
/// </summary>
internal sealed class FakeManagement : CallInvoker
{
    private readonly Dictionary<string, Func<IMessage, IMessage>> _handlers = new(StringComparer.Ordinal);

    public List<(string Method, IMessage Request, Metadata? Headers)> Calls { get; } = [];

    public FakeManagement On<TRequest>(string method, Func<TRequest, IMessage> handler) where TRequest : IMessage
    {
        _handlers[method] = request => handler((TRequest)request);
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
        return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), () => Grpc.Core.Status.DefaultSuccess, () => [], () => { });
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException();

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException();

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException();
}
