using System.Text.RegularExpressions;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The routes of one listener, precompiled (regular expressions included) into entries sorted by
/// Gateway API's precedence, and matched by a linear scan: the first entry that matches wins.
/// Immutable: a config change builds a new table that the listener swaps in atomically. A
/// handful of routes per listener is the norm, so a scan in precedence order beats any index.
/// </summary>
/// <remarks>
/// Precedence, most specific first: an exact host, then wildcards (longest suffix first), then
/// any host; then an Exact path, a RegularExpression path, a PathPrefix (longest first); then a
/// match with a method before one without; more header conditions, then more query conditions;
/// ties keep the written order. Gateway API leaves regular expressions' rank to implementations;
/// this is Envoy Gateway's choice.
/// </remarks>
public sealed class RouteTable
{
    private const int PathExact = 0;
    private const int PathRegex = 1;
    private const int PathPrefix = 2;

    private readonly Entry[] _entries;

    /// <param name="trustedProxies">The listener's trusted proxies (CIDRs): see <see cref="ForwardingTransformer"/>.</param>
    public RouteTable(IEnumerable<RouteConfig> routes, IEnumerable<string>? trustedProxies = null)
    {
        Forwarding = trustedProxies is null ? ForwardingTransformer.Instance : ForwardingTransformer.For(trustedProxies);
        var entries = new List<Entry>();
        var order = 0;
        foreach (var route in routes)
        {
            var matches = route.Matches.Count == 0
                ? [new RouteMatchConfig("PathPrefix", route.PathPrefix, string.Empty, EquatableArray<ValueMatchConfig>.Empty, EquatableArray<ValueMatchConfig>.Empty)]
                : route.Matches.ToArray();
            foreach (var match in matches)
            {
                var condition = new Condition(match);
                var result = new RouteEntry(route, condition.Kind == PathPrefix ? condition.Path : null, Forwarding);
                if (route.Hosts.Count == 0)
                {
                    entries.Add(new Entry(null, false, condition, result, order++));
                    continue;
                }
                foreach (var host in route.Hosts)
                {
                    var wildcard = host.StartsWith("*.", StringComparison.Ordinal);
                    entries.Add(new Entry(wildcard ? host[1..] : host, wildcard, condition, result, order++));
                }
            }
        }

        _entries = entries
            .OrderBy(e => e.Host is null ? 2 : e.Wildcard ? 1 : 0)
            .ThenByDescending(e => e.Host?.Length ?? 0)
            .ThenBy(e => e.Condition.Kind)
            .ThenByDescending(e => e.Condition.Path.Length)
            .ThenBy(e => e.Condition.Method is null ? 1 : 0)
            .ThenByDescending(e => e.Condition.Headers.Length)
            .ThenByDescending(e => e.Condition.QueryParams.Length)
            .ThenBy(e => e.Order)
            .ToArray();
    }

    /// <summary>How requests of this listener are forwarded (which peers' forwarding headers are believed).</summary>
    internal ForwardingTransformer Forwarding { get; }

    public int Count => _entries.Length;

    /// <summary>The route a request with only a host and a path takes, or null when none matches.</summary>
    public RouteConfig? Match(ReadOnlySpan<char> host, ReadOnlySpan<char> path) =>
        Match(host, path, new PathOnlyRouteRequest())?.Route;

    /// <summary>
    /// The entry a request takes, or null when none matches. Allocates nothing unless a regular
    /// expression meets a value longer than the stack buffer of <see cref="ValueMatcher"/>.
    /// </summary>
    public RouteEntry? Match<TRequest>(ReadOnlySpan<char> host, ReadOnlySpan<char> path, TRequest request)
        where TRequest : IRouteRequest
    {
        host = StripPort(host);
        foreach (var entry in _entries)
        {
            if (entry.Host is not null)
            {
                var matches = entry.Wildcard
                    ? host.Length > entry.Host.Length && host.EndsWith(entry.Host, StringComparison.OrdinalIgnoreCase)
                    : host.Equals(entry.Host, StringComparison.OrdinalIgnoreCase);
                if (!matches)
                {
                    continue;
                }
            }
            if (entry.Condition.IsMatch(path, request))
            {
                return entry.Result;
            }
        }
        return null;
    }

    private static bool PrefixMatches(ReadOnlySpan<char> path, string prefix)
    {
        if (prefix.Length <= 1)
        {
            return true;
        }
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }
        // "/api" matches "/api" and "/api/x" but not "/apix", unless the prefix ends with '/'.
        return path.Length == prefix.Length || prefix[^1] == '/' || path[prefix.Length] == '/';
    }

    private static ReadOnlySpan<char> StripPort(ReadOnlySpan<char> host)
    {
        if (host.Length > 0 && host[0] == '[')
        {
            var end = host.IndexOf(']');
            return end > 0 ? host[..(end + 1)] : host;
        }
        var colon = host.LastIndexOf(':');
        return colon >= 0 ? host[..colon] : host;
    }

    /// <summary>One match of a route, compiled: path, method, headers and query parameters, all required.</summary>
    private sealed class Condition
    {
        public Condition(RouteMatchConfig match)
        {
            Path = match.PathValue;
            Kind = match.PathType switch
            {
                "Exact" => PathExact,
                "RegularExpression" => PathRegex,
                _ => PathPrefix,
            };
            Regex = Kind == PathRegex ? RoutePatterns.Compile(match.PathValue) : null;
            Method = match.Method.Length == 0 ? null : match.Method;
            Headers = [.. match.Headers.Select(h => new ValueMatcher(h))];
            QueryParams = [.. match.QueryParams.Select(q => new ValueMatcher(q))];
        }

        public int Kind { get; }

        public string Path { get; }

        public Regex? Regex { get; }

        public string? Method { get; }

        public ValueMatcher[] Headers { get; }

        public ValueMatcher[] QueryParams { get; }

        public bool IsMatch<TRequest>(ReadOnlySpan<char> path, TRequest request)
            where TRequest : IRouteRequest
        {
            var pathMatches = Kind switch
            {
                PathExact => path.SequenceEqual(Path),
                PathRegex => Regex!.IsMatch(path),
                _ => PrefixMatches(path, Path),
            };
            if (!pathMatches || (Method is not null && !request.MethodIs(Method)))
            {
                return false;
            }
            foreach (var header in Headers)
            {
                if (!request.HasHeader(header))
                {
                    return false;
                }
            }
            foreach (var query in QueryParams)
            {
                if (!request.HasQueryParam(query))
                {
                    return false;
                }
            }
            return true;
        }
    }

    private sealed record Entry(string? Host, bool Wildcard, Condition Condition, RouteEntry Result, int Order);
}

/// <summary>
/// What a request matched: the route, the path prefix it matched by (for ReplacePrefixMatch),
/// and how the YARP path forwards it (the listener's forwarding rules plus the route's filters).
/// </summary>
public sealed class RouteEntry
{
    internal RouteEntry(RouteConfig route, string? matchedPrefix, ForwardingTransformer forwarding)
    {
        Route = route;
        MatchedPrefix = matchedPrefix;
        Transformer = route.Rewrite is not null || route.RequestHeaders is not null || route.ResponseHeaders is not null
            ? new RouteTransformer(forwarding, route, matchedPrefix)
            : forwarding;
    }

    public RouteConfig Route { get; }

    /// <summary>The PathPrefix value matched by, or null for an Exact or RegularExpression match.</summary>
    public string? MatchedPrefix { get; }

    internal HttpTransformer Transformer { get; }
}
