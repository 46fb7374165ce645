using Grpc.Core;
using Grpc.Core.Interceptors;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// Adds what every management call carries: the bearer token, and a deadline so that a
/// control plane that accepts the connection but never answers cannot hang a script.
/// Server streams (events --watch) get the token only: they run until the user stops them.
/// </summary>
internal sealed class CallDefaultsInterceptor(string? token, TimeSpan timeout) : Interceptor
{
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, WithDefaults(context.Options)));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, WithToken(context.Options)));

    private CallOptions WithDefaults(CallOptions options)
    {
        var withToken = WithToken(options);
        return withToken.WithDeadline(withToken.Deadline ?? DateTime.UtcNow.Add(timeout));
    }

    private CallOptions WithToken(CallOptions options)
    {
        var headers = new Metadata();
        foreach (var entry in options.Headers ?? [])
        {
            headers.Add(entry);
        }
        if (token is not null)
        {
            headers.Add("authorization", $"Bearer {token}");
        }
        return options.WithHeaders(headers);
    }
}
