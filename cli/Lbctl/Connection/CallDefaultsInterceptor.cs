using Grpc.Core;
using Grpc.Core.Interceptors;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// Adds what every management call carries: the bearer token, and a deadline so that a
/// control plane that accepts the connection but never answers cannot hang a script.
/// Server streams (events --watch) get the token only: they run until the user stops them.
/// The server's <c>lb-warning</c> response headers (a certificate near expiry, a self-signed
/// CA:TRUE leaf) are printed to <paramref name="warnings"/> for every verb alike.
/// </summary>
internal sealed class CallDefaultsInterceptor(string? token, TimeSpan timeout, TextWriter? warnings = null) : Interceptor
{
    public const string WarningHeader = "lb-warning";

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context,
        AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, WithDefaults(context.Options)));
        if (warnings is null)
        {
            return call;
        }
        return new AsyncUnaryCall<TResponse>(PrintWarningsAsync(call, warnings), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    private static async Task<TResponse> PrintWarningsAsync<TResponse>(AsyncUnaryCall<TResponse> call, TextWriter warnings)
    {
        var response = await call.ResponseAsync.ConfigureAwait(false);
        foreach (var entry in await call.ResponseHeadersAsync.ConfigureAwait(false))
        {
            if (entry.Key == WarningHeader && !entry.IsBinary)
            {
                warnings.WriteLine($"Warning: {entry.Value}");
            }
        }
        return response;
    }

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
