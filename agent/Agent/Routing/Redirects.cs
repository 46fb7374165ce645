using System.Globalization;
using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Routing;

/// <summary>Gateway API's RequestRedirect: where a redirected request is sent.</summary>
public static class Redirects
{
    /// <param name="scheme">The request's scheme (http or https).</param>
    /// <param name="host">The request's Host, with or without a port.</param>
    /// <param name="listenerPort">The port the request came in on.</param>
    /// <param name="path">The request's path.</param>
    /// <param name="query">The query with its '?', or empty.</param>
    public static string Location(RedirectConfig redirect, string scheme, string host, int listenerPort, string path, string query, string? matchedPrefix)
    {
        var toScheme = redirect.Scheme.Length > 0 ? redirect.Scheme : scheme;
        var toHost = redirect.Hostname.Length > 0 ? redirect.Hostname : StripPort(host);
        // Gateway API: a given port; else the new scheme's well-known port; else the listener's.
        var port = redirect.Port > 0 ? redirect.Port
            : redirect.Scheme.Length > 0 ? (toScheme == "https" ? 443 : 80)
            : listenerPort;
        var portText = (toScheme, port) is ("http", 80) or ("https", 443) ? string.Empty : ":" + port.ToString(CultureInfo.InvariantCulture);
        return $"{toScheme}://{toHost}{portText}{PathModifiers.Apply(redirect.Path, matchedPrefix, path)}{query}";
    }

    private static string StripPort(string host)
    {
        if (host.StartsWith('['))
        {
            var end = host.IndexOf(']', StringComparison.Ordinal);
            return end > 0 ? host[..(end + 1)] : host;
        }
        var colon = host.LastIndexOf(':');
        return colon >= 0 ? host[..colon] : host;
    }
}
