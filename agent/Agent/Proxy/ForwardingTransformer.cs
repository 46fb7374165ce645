using System.Globalization;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// Keeps the client's Host header (backends behind a load balancer expect the public name) and
/// sets the forwarding headers so backends learn the client address and scheme. What a client
/// says about where it comes from is believed only from the listener's trusted proxies: from
/// any other peer every forwarding header is dropped and set afresh, so a backend reading the
/// leftmost X-Forwarded-For address reads the address the agent saw.
/// </summary>
internal sealed class ForwardingTransformer : HttpTransformer
{
    /// <summary>Request headers that describe the hops before this one.</summary>
    private static readonly string[] ForwardingHeaders = ["Forwarded", "X-Real-IP"];

    private readonly IPNetwork[] _trustedProxies;

    /// <summary>No trusted proxy: every peer is a client.</summary>
    public static ForwardingTransformer Instance { get; } = new([]);

    public ForwardingTransformer(IReadOnlyList<IPNetwork> trustedProxies) => _trustedProxies = [.. trustedProxies];

    /// <summary>The transformer of a listener with these trusted proxies (CIDRs, validated by the control plane).</summary>
    public static ForwardingTransformer For(IEnumerable<string> trustedProxies)
    {
        var networks = trustedProxies.Select(c => IPNetwork.TryParse(c, out var network) ? network : (IPNetwork?)null).OfType<IPNetwork>().ToArray();
        return networks.Length == 0 ? Instance : new ForwardingTransformer(networks);
    }

    /// <summary>True when the peer is one of the listener's trusted proxies.</summary>
    public bool Trusts(IPAddress? peer)
    {
        if (peer is null || _trustedProxies.Length == 0)
        {
            return false;
        }
        var address = peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer;
        foreach (var network in _trustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);

        var request = httpContext.Request;
        if (proxyRequest.Headers.ExpectContinue == true && !Pools.RetryRule.IsIdempotent(request.Method))
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
        else
        {
            // An empty Host (allowed by RFC 9112 3.2) was copied as a field of its own, and
            // HttpClient adds the destination's: the backend would see two. It gets one, the backend's.
            proxyRequest.Headers.Host = null;
            proxyRequest.Headers.Remove("Host");
        }
        SetForwardingHeaders(httpContext, proxyRequest.Headers);
        if (Tracing.AgentTracing.Enabled && System.Diagnostics.Activity.Current is { } span && span.Source == Tracing.AgentTracing.Source)
        {
            // The request's span (HttpProxyHandler) is the backend's parent; tracestate goes on as sent.
            proxyRequest.Headers.Remove("traceparent");
            proxyRequest.Headers.TryAddWithoutValidation("traceparent", Tracing.ProxySpan.TraceParent(span));
        }
    }

    private void SetForwardingHeaders(HttpContext httpContext, System.Net.Http.Headers.HttpRequestHeaders headers)
    {
        var request = httpContext.Request;
        var peer = httpContext.Connection.RemoteIpAddress;
        var remote = peer is null ? null : (peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer).ToString();
        if (Trusts(peer))
        {
            // A proxy we trust: its account of the earlier hops stands, and this hop is appended.
            if (remote is not null)
            {
                var existing = request.Headers["X-Forwarded-For"].ToString();
                headers.Remove("X-Forwarded-For");
                headers.TryAddWithoutValidation("X-Forwarded-For", existing.Length == 0 ? remote : existing + ", " + remote);
            }
            SetIfAbsent(headers, "X-Forwarded-Proto", request.Scheme);
            if (request.Host.HasValue)
            {
                SetIfAbsent(headers, "X-Forwarded-Host", request.Host.Value);
            }
            SetIfAbsent(headers, "X-Forwarded-Port", httpContext.Connection.LocalPort.ToString(CultureInfo.InvariantCulture));
            if (remote is not null)
            {
                SetIfAbsent(headers, "X-Real-IP", remote);
            }
            return;
        }

        // Anyone else: nothing it says about earlier hops reaches the backend.
        // NonValidated: enumerating the headers themselves would parse, and so rewrite, every
        // value the client sent ("*/*;q=0.8" becomes "*/*; q=0.8").
        foreach (var name in headers.NonValidated.Select(h => h.Key).Where(IsForwardingHeader).ToList())
        {
            headers.Remove(name);
        }
        if (remote is not null)
        {
            headers.TryAddWithoutValidation("X-Forwarded-For", remote);
            headers.TryAddWithoutValidation("X-Real-IP", remote);
        }
        headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (request.Host.HasValue)
        {
            headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        }
        headers.TryAddWithoutValidation("X-Forwarded-Port", httpContext.Connection.LocalPort.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>X-Forwarded-* (any of them: -For, -Proto, -Host, -Port, -Prefix, -Ssl...), Forwarded and X-Real-IP.</summary>
    internal static bool IsForwardingHeader(string name) =>
        name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
        || ForwardingHeaders.Any(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));

    private static void SetIfAbsent(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string value)
    {
        if (!headers.Contains(name))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        Persistence.SessionAffinity.AppendPendingCookie(httpContext);
        return result;
    }
}
