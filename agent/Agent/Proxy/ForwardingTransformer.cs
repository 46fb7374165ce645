using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// Keeps the client's Host header (backends behind a load balancer expect the public name) and
/// adds the X-Forwarded-* headers so backends learn the client address and scheme.
/// </summary>
internal sealed class ForwardingTransformer : HttpTransformer
{
    public static ForwardingTransformer Instance { get; } = new();

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);

        var request = httpContext.Request;
        if (proxyRequest.Headers.ExpectContinue == true && !HttpProxyHandler.IsIdempotent(request.Method))
        {
            // SocketsHttpHandler resends a request whose content waits for 100 Continue when the
            // connection closes first, although the backend may have acted on its headers
            // (dotnet/runtime#86714). Without Expect the body follows at once and is never resent;
            // Kestrel still answers the client's Expect itself when the body is read.
            proxyRequest.Headers.ExpectContinue = null;
        }
        if (request.Host.HasValue)
        {
            proxyRequest.Headers.Host = request.Host.Value;
        }

        var headers = proxyRequest.Headers;
        var remote = httpContext.Connection.RemoteIpAddress?.ToString();
        if (remote is not null)
        {
            var existing = request.Headers["X-Forwarded-For"].ToString();
            headers.Remove("X-Forwarded-For");
            headers.TryAddWithoutValidation("X-Forwarded-For", existing.Length == 0 ? remote : existing + ", " + remote);
        }
        headers.Remove("X-Forwarded-Proto");
        headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (request.Host.HasValue)
        {
            headers.Remove("X-Forwarded-Host");
            headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        Persistence.SessionAffinity.AppendPendingCookie(httpContext);
        return result;
    }
}
