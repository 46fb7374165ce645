using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The routes of one listener, matched by host then longest path prefix. Immutable: a config
/// change builds a new table that the listener swaps in atomically. A handful of routes per
/// listener is the norm, so a linear scan in specificity order beats any index.
/// </summary>
public sealed class RouteTable
{
    private readonly Entry[] _entries;

    /// <param name="trustedProxies">The listener's trusted proxies (CIDRs): see <see cref="ForwardingTransformer"/>.</param>
    public RouteTable(IEnumerable<RouteConfig> routes, IEnumerable<string>? trustedProxies = null)
    {
        Forwarding = trustedProxies is null ? ForwardingTransformer.Instance : ForwardingTransformer.For(trustedProxies);
        var entries = new List<Entry>();
        var order = 0;
        foreach (var route in routes)
        {
            if (route.Hosts.Count == 0)
            {
                entries.Add(new Entry(null, false, route.PathPrefix, route, order++));
                continue;
            }
            foreach (var host in route.Hosts)
            {
                var wildcard = host.StartsWith("*.", StringComparison.Ordinal);
                entries.Add(new Entry(wildcard ? host[1..] : host, wildcard, route.PathPrefix, route, order++));
            }
        }

        // Exact hosts, then wildcards (longest suffix first), then any host; within each, longest prefix.
        _entries = entries
            .OrderBy(e => e.Host is null ? 2 : e.Wildcard ? 1 : 0)
            .ThenByDescending(e => e.Host?.Length ?? 0)
            .ThenByDescending(e => e.PathPrefix.Length)
            .ThenBy(e => e.Order)
            .ToArray();
    }

    /// <summary>How requests of this listener are forwarded (which peers' forwarding headers are believed).</summary>
    internal ForwardingTransformer Forwarding { get; }

    public int Count => _entries.Length;

    /// <summary>The route a request takes, or null when none matches.</summary>
    public RouteConfig? Match(ReadOnlySpan<char> host, ReadOnlySpan<char> path)
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
            if (PathMatches(path, entry.PathPrefix))
            {
                return entry.Route;
            }
        }
        return null;
    }

    private static bool PathMatches(ReadOnlySpan<char> path, string prefix)
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

    private sealed record Entry(string? Host, bool Wildcard, string PathPrefix, RouteConfig Route, int Order);
}
