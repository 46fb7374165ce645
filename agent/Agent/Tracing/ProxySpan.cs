using System.Diagnostics;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Tracing;

/// <summary>
/// The span of one proxied request (kind Server): started once the request has a pool, ended
/// with the backend that answered, the retries and the status. Attribute names follow the
/// OpenTelemetry HTTP semantic conventions where one exists, lb.* for the rest.
/// </summary>
internal static class ProxySpan
{
    public const string Listener = "lb.listener";
    public const string Route = "lb.route";
    public const string Pool = "lb.pool";
    public const string Backend = "lb.backend";
    public const string Retries = "lb.retries";
    public const string Method = "http.request.method";
    public const string Status = "http.response.status_code";
    public const string ServerAddress = "server.address";
    public const string UrlPath = "url.path";

    /// <summary>
    /// The request's span, or null when tracing is off or the request is not sampled: callers
    /// check <see cref="AgentTracing.Enabled"/> first, so that off costs one call.
    /// </summary>
    public static Activity? Start(string? traceparent, string? tracestate, double samplingRatio, string method, string host, string path, string listener, RouteConfig route)
    {
        if (!TraceSampling.ShouldRecord(traceparent, tracestate, samplingRatio, Random.Shared.NextDouble(), out var parent))
        {
            return null;
        }
        var span = AgentTracing.Source.StartActivity(ActivityKind.Server, parent, name: method + " " + route.PathPrefix);
        if (span is null)
        {
            return null;
        }
        if (span.IsAllDataRequested)
        {
            span.SetTag(Method, method);
            span.SetTag(ServerAddress, HostWithoutPort(host));
            span.SetTag(UrlPath, path);
            span.SetTag(Listener, listener);
            span.SetTag(Route, RouteName(route));
            span.SetTag(Pool, route.Pool);
        }
        return span;
    }

    /// <summary>Records how the request ended and stops the span.</summary>
    public static void End(Activity span, BackendState? backend, int retries, int status)
    {
        if (span.IsAllDataRequested)
        {
            if (backend is not null)
            {
                span.SetTag(Backend, backend.Address);
            }
            span.SetTag(Retries, retries);
            if (status > 0)
            {
                span.SetTag(Status, status);
            }
        }
        // A server span is an error for a 5xx only: a 4xx is the client's, and so is a client gone (0).
        if (status >= 500)
        {
            span.SetStatus(ActivityStatusCode.Error);
        }
        span.Stop();
    }

    /// <summary>
    /// The traceparent the backend gets: this span as its parent (W3C version 00), so the
    /// backend's span hangs under the agent's.
    /// </summary>
    public static string TraceParent(Activity span) =>
        $"00-{span.TraceId.ToHexString()}-{span.SpanId.ToHexString()}-{((span.ActivityTraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";

    /// <summary>A route as an operator names it: its hosts (or *) and its path prefix.</summary>
    internal static string RouteName(RouteConfig route) =>
        (route.Hosts.Count == 0 ? "*" : string.Join(',', route.Hosts)) + route.PathPrefix;

    internal static string HostWithoutPort(string host)
    {
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? host[1..close] : host;
        }
        var colon = host.LastIndexOf(':');
        return colon >= 0 && host.IndexOf(':', StringComparison.Ordinal) == colon ? host[..colon] : host;
    }
}
