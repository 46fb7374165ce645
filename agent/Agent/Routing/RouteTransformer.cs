using System.Net.Http.Headers;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Routing;

/// <summary>
/// The listener's forwarding rules plus a route's URLRewrite and header modifiers, on the YARP
/// path (the fast path hands routes with filters to it). One per route entry, built with the table.
/// </summary>
internal sealed class RouteTransformer(ForwardingTransformer forwarding, RouteConfig route, string? matchedPrefix) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await forwarding.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var request = httpContext.Request;
        if (route.Rewrite is { } rewrite)
        {
            if (rewrite.Path is not null)
            {
                var path = PathModifiers.Apply(rewrite.Path, matchedPrefix, request.Path.Value ?? "/");
                proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, new PathString(path), request.QueryString);
            }
            if (rewrite.Hostname.Length > 0)
            {
                proxyRequest.Headers.Host = rewrite.Hostname;
            }
        }
        if (route.RequestHeaders is { } modifier)
        {
            Modify(modifier, proxyRequest.Headers, proxyRequest.Content?.Headers);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await forwarding.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (route.ResponseHeaders is { } modifier)
        {
            var headers = httpContext.Response.Headers;
            foreach (var name in modifier.Remove)
            {
                headers.Remove(name);
            }
            foreach (var header in modifier.Set)
            {
                headers[header.Name] = header.Value;
            }
            foreach (var header in modifier.Add)
            {
                headers.Append(header.Name, header.Value);
            }
        }
        return result;
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        forwarding.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);

    /// <summary>Gateway API's order: remove, then set (replacing), then add (another value).</summary>
    private static void Modify(HeaderModifierConfig modifier, HttpRequestHeaders headers, HttpContentHeaders? content)
    {
        foreach (var name in modifier.Remove)
        {
            headers.Remove(name);
            content?.Remove(name);
        }
        foreach (var header in modifier.Set)
        {
            headers.Remove(header.Name);
            content?.Remove(header.Name);
            Add(headers, content, header);
        }
        foreach (var header in modifier.Add)
        {
            Add(headers, content, header);
        }
    }

    private static void Add(HttpRequestHeaders headers, HttpContentHeaders? content, HeaderValueConfig header)
    {
        // Content-Type and its kin belong to the content's headers; HttpRequestHeaders refuses them.
        if (!headers.TryAddWithoutValidation(header.Name, header.Value))
        {
            content?.TryAddWithoutValidation(header.Name, header.Value);
        }
    }
}
