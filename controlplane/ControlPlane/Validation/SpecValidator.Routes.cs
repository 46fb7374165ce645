using LoadBalancer.Api.V1;
using Route = LoadBalancer.Api.V1.Route;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>A route's matches, backends and filters (Gateway API's HTTPRoute rule, see <see cref="RouteRules"/>).</summary>
public static partial class SpecValidator
{
    private static void ValidateMatches(Route route, Violations v, string rp)
    {
        if (route.Matches.Count > RouteRules.MaxMatches)
        {
            v.Add(rp + "matches", $"at most {RouteRules.MaxMatches} matches are allowed, found {route.Matches.Count}");
            return;
        }
        for (var m = 0; m < route.Matches.Count; m++)
        {
            var match = route.Matches[m];
            var mp = $"{rp}matches[{m}].";
            if (match.Path is { } path)
            {
                var pathValue = path.Value.Length == 0 ? "/" : path.Value;
                switch (path.Type)
                {
                    case "" or RouteRules.PathPrefix or RouteRules.Exact:
                        if (!IsPath(pathValue))
                        {
                            v.Add(mp + "path.value", $"'{Clip(pathValue)}' must start with '/' and contain no spaces, control characters, '?' or '#'");
                        }
                        break;
                    case RouteRules.RegularExpression:
                        if (path.Value.Length == 0)
                        {
                            v.Add(mp + "path.value", "required for type RegularExpression");
                        }
                        else if (RouteRules.CheckRegex(path.Value) is { } error)
                        {
                            v.Add(mp + "path.value", error);
                        }
                        break;
                    default:
                        v.Add(mp + "path.type", $"'{Clip(path.Type)}' is not one of Exact, PathPrefix, RegularExpression");
                        break;
                }
            }
            if (match.Method.Length > 0 && !RouteRules.Methods.Contains(match.Method))
            {
                v.Add(mp + "method", $"'{Clip(match.Method)}' is not one of {string.Join(", ", RouteRules.Methods)}");
            }
            ValidateValueMatches(match.Headers, v, mp + "headers", header: true);
            ValidateValueMatches(match.QueryParams, v, mp + "queryParams", header: false);
        }
    }

    private static void ValidateValueMatches(IReadOnlyList<ValueMatch> matches, Violations v, string field, bool header)
    {
        if (matches.Count > RouteRules.MaxPerList)
        {
            v.Add(field, $"at most {RouteRules.MaxPerList} are allowed, found {matches.Count}");
            return;
        }
        var names = new HashSet<string>(header ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        for (var i = 0; i < matches.Count; i++)
        {
            var match = matches[i];
            var p = $"{field}[{i}].";
            if (match.Name.Length == 0)
            {
                v.Add(p + "name", "required");
            }
            else if (header ? !Names.IsHttpToken(match.Name) : !IsQueryName(match.Name))
            {
                v.Add(p + "name", header
                    ? $"'{Clip(match.Name)}' is not a header name (letters, digits and !#$%&'*+-.^_`|~ only; no colon, space or CR/LF)"
                    : $"'{Clip(match.Name)}' is not a query parameter name (no '&', '=', '#', spaces or control characters)");
            }
            else if (!names.Add(match.Name))
            {
                v.Add(p + "name", $"'{Clip(match.Name)}' is matched twice");
            }
            switch (match.Type)
            {
                case "" or RouteRules.Exact:
                    if (!RouteRules.IsHeaderValue(match.Value))
                    {
                        v.Add(p + "value", "must be printable ASCII without CR or LF, at most 4096 characters");
                    }
                    break;
                case RouteRules.RegularExpression:
                    if (RouteRules.CheckRegex(match.Value) is { } error)
                    {
                        v.Add(p + "value", error);
                    }
                    break;
                default:
                    v.Add(p + "type", $"'{Clip(match.Type)}' is not one of Exact, RegularExpression");
                    break;
            }
        }
    }

    private static void ValidateRouteBackends(Route route, StoreView view, Violations v, string rp)
    {
        var redirects = route.Filters.Any(f => f.Type == RouteRules.RequestRedirect);
        if (route.Pool.Length > 0 && route.Backends.Count > 0)
        {
            v.Add(rp + "backends", "not allowed with pool; use one or the other");
            return;
        }
        if (redirects)
        {
            if (route.Pool.Length > 0 || route.Backends.Count > 0)
            {
                v.Add(rp + (route.Pool.Length > 0 ? "pool" : "backends"), "not allowed with a RequestRedirect filter: the redirect answers the request");
            }
            return;
        }
        if (route.Pool.Length > 0)
        {
            CheckRoutePool(route.Pool, view, v, rp + "pool");
            return;
        }
        if (route.Backends.Count == 0)
        {
            v.Add(rp + "pool", "required (or backends, or a RequestRedirect filter)");
            return;
        }
        if (route.Backends.Count > RouteRules.MaxPerList)
        {
            v.Add(rp + "backends", $"at most {RouteRules.MaxPerList} backends are allowed, found {route.Backends.Count}");
            return;
        }
        var pools = new HashSet<string>(StringComparer.Ordinal);
        var sum = 0;
        for (var b = 0; b < route.Backends.Count; b++)
        {
            var backend = route.Backends[b];
            var bp = $"{rp}backends[{b}].";
            if (backend.Pool.Length == 0)
            {
                v.Add(bp + "pool", "required");
            }
            else if (!pools.Add(backend.Pool))
            {
                v.Add(bp + "pool", $"pool {Clip(backend.Pool)} is listed twice");
            }
            else
            {
                CheckRoutePool(backend.Pool, view, v, bp + "pool");
            }
            var weight = backend.HasWeight ? backend.Weight : 1;
            if (weight is < 0 or > RouteRules.MaxBackendWeight)
            {
                v.Add(bp + "weight", $"must be from 0 to {RouteRules.MaxBackendWeight}, not {weight}");
            }
            else
            {
                sum += weight;
            }
        }
        if (sum == 0 && !v.Items.Any(i => i.Field.StartsWith(rp + "backends[", StringComparison.Ordinal) && i.Field.EndsWith(".weight", StringComparison.Ordinal)))
        {
            v.Add(rp + "backends", "the weights sum to 0: at least one backend needs a weight above 0");
        }
    }

    private static void CheckRoutePool(string name, StoreView view, Violations v, string field)
    {
        if (!view.Pools.TryGetValue(name, out var pool))
        {
            v.Add(field, $"pool {Clip(name)} does not exist");
        }
        else if (pool.Protocol is not ("http" or "https"))
        {
            v.Add(field, $"pool {name} has protocol {pool.Protocol}; HTTP routes need an http or https pool");
        }
    }

    private static void ValidateFilters(Route route, Violations v, string rp)
    {
        if (route.Filters.Count > RouteRules.MaxPerList)
        {
            v.Add(rp + "filters", $"at most {RouteRules.MaxPerList} filters are allowed, found {route.Filters.Count}");
            return;
        }
        var types = new HashSet<string>(StringComparer.Ordinal);
        for (var f = 0; f < route.Filters.Count; f++)
        {
            var filter = route.Filters[f];
            var fp = $"{rp}filters[{f}].";
            var expected = filter.Type switch
            {
                RouteRules.RequestRedirect => "requestRedirect",
                RouteRules.UrlRewrite => "urlRewrite",
                RouteRules.RequestHeaderModifier => "requestHeaderModifier",
                RouteRules.ResponseHeaderModifier => "responseHeaderModifier",
                _ => null,
            };
            if (expected is null)
            {
                v.Add(fp + "type", filter.Type switch
                {
                    "" => "required: one of RequestRedirect, URLRewrite, RequestHeaderModifier, ResponseHeaderModifier",
                    RouteRules.RequestMirror => "RequestMirror is not supported yet",
                    _ => $"'{Clip(filter.Type)}' is not one of RequestRedirect, URLRewrite, RequestHeaderModifier, ResponseHeaderModifier",
                });
                continue;
            }
            if (!types.Add(filter.Type))
            {
                v.Add(fp + "type", $"{filter.Type} appears twice in this route");
                continue;
            }
            // Exactly the object its type names, as in Gateway API.
            (string Name, bool Set)[] objects =
            [
                ("requestRedirect", filter.RequestRedirect is not null),
                ("urlRewrite", filter.UrlRewrite is not null),
                ("requestHeaderModifier", filter.RequestHeaderModifier is not null),
                ("responseHeaderModifier", filter.ResponseHeaderModifier is not null),
            ];
            foreach (var (name, set) in objects)
            {
                if (name == expected && !set)
                {
                    v.Add(fp + name, $"required for type {filter.Type}");
                }
                else if (name != expected && set)
                {
                    v.Add(fp + name, $"not allowed for type {filter.Type}");
                }
            }
            switch (filter.Type)
            {
                case RouteRules.RequestRedirect when filter.RequestRedirect is { } redirect:
                    ValidateRedirect(route, redirect, v, fp + "requestRedirect.");
                    break;
                case RouteRules.UrlRewrite when filter.UrlRewrite is { } rewrite:
                    if (rewrite.Hostname.Length > 0 && !Names.IsHostname(rewrite.Hostname))
                    {
                        v.Add(fp + "urlRewrite.hostname", $"'{Clip(rewrite.Hostname)}' is not a hostname");
                    }
                    if (rewrite.Path is { } rewritePath)
                    {
                        ValidatePathModifier(route, rewritePath, v, fp + "urlRewrite.path.");
                    }
                    break;
                case RouteRules.RequestHeaderModifier when filter.RequestHeaderModifier is { } modifier:
                    ValidateHeaderModifier(modifier, v, fp + "requestHeaderModifier.");
                    break;
                case RouteRules.ResponseHeaderModifier when filter.ResponseHeaderModifier is { } modifier:
                    ValidateHeaderModifier(modifier, v, fp + "responseHeaderModifier.");
                    break;
            }
        }
        if (types.Contains(RouteRules.RequestRedirect) && types.Contains(RouteRules.UrlRewrite))
        {
            v.Add(rp + "filters", "RequestRedirect and URLRewrite cannot both be used in one route");
        }
    }

    private static void ValidateRedirect(Route route, RequestRedirectFilter redirect, Violations v, string p)
    {
        if (redirect.Scheme.Length > 0 && redirect.Scheme is not ("http" or "https"))
        {
            v.Add(p + "scheme", $"'{Clip(redirect.Scheme)}' is not one of http, https");
        }
        if (redirect.Hostname.Length > 0 && !Names.IsHostname(redirect.Hostname))
        {
            v.Add(p + "hostname", $"'{Clip(redirect.Hostname)}' is not a hostname");
        }
        if (redirect.HasPort && redirect.Port is < 1 or > 65535)
        {
            v.Add(p + "port", $"must be from 1 to 65535, not {redirect.Port}");
        }
        if (redirect.HasStatusCode && !RouteRules.RedirectStatusCodes.Contains(redirect.StatusCode))
        {
            v.Add(p + "statusCode", $"{redirect.StatusCode} is not one of 301, 302, 303, 307, 308");
        }
        if (redirect.Path is { } path)
        {
            ValidatePathModifier(route, path, v, p + "path.");
        }
    }

    private static void ValidatePathModifier(Route route, PathModifier modifier, Violations v, string p)
    {
        switch (modifier.Type)
        {
            case RouteRules.ReplaceFullPath:
                if (!IsPath(modifier.ReplaceFullPath))
                {
                    v.Add(p + "replaceFullPath", "required: a path starting with '/' without spaces, control characters, '?' or '#'");
                }
                if (modifier.ReplacePrefixMatch.Length > 0)
                {
                    v.Add(p + "replacePrefixMatch", "not allowed for type ReplaceFullPath");
                }
                break;
            case RouteRules.ReplacePrefixMatch:
                if (!IsPath(modifier.ReplacePrefixMatch))
                {
                    v.Add(p + "replacePrefixMatch", "required: a path starting with '/' without spaces, control characters, '?' or '#'");
                }
                if (modifier.ReplaceFullPath.Length > 0)
                {
                    v.Add(p + "replaceFullPath", "not allowed for type ReplacePrefixMatch");
                }
                // Gateway API: the prefix to replace is the matched one, so every match must be a prefix match.
                if (route.Matches.Any(m => m.Path is { Type.Length: > 0 } path && path.Type != RouteRules.PathPrefix))
                {
                    v.Add(p + "type", "ReplacePrefixMatch needs every match of the route to be a PathPrefix match");
                }
                break;
            default:
                v.Add(p + "type", modifier.Type.Length == 0
                    ? "required: one of ReplaceFullPath, ReplacePrefixMatch"
                    : $"'{Clip(modifier.Type)}' is not one of ReplaceFullPath, ReplacePrefixMatch");
                break;
        }
    }

    private static void ValidateHeaderModifier(HeaderModifierFilter modifier, Violations v, string p)
    {
        if (modifier.Set.Count == 0 && modifier.Add.Count == 0 && modifier.Remove.Count == 0)
        {
            v.Add(p.TrimEnd('.'), "at least one of set, add, remove is required");
            return;
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (list, field) in new[] { (modifier.Set, "set"), (modifier.Add, "add") })
        {
            if (list.Count > RouteRules.MaxPerList)
            {
                v.Add(p + field, $"at most {RouteRules.MaxPerList} headers are allowed, found {list.Count}");
                continue;
            }
            for (var i = 0; i < list.Count; i++)
            {
                CheckModifiedHeaderName(list[i].Name, names, v, $"{p}{field}[{i}].name");
                if (!RouteRules.IsHeaderValue(list[i].Value))
                {
                    v.Add($"{p}{field}[{i}].value", "must be printable ASCII without CR or LF, at most 4096 characters");
                }
            }
        }
        if (modifier.Remove.Count > RouteRules.MaxPerList)
        {
            v.Add(p + "remove", $"at most {RouteRules.MaxPerList} headers are allowed, found {modifier.Remove.Count}");
            return;
        }
        for (var i = 0; i < modifier.Remove.Count; i++)
        {
            CheckModifiedHeaderName(modifier.Remove[i], names, v, $"{p}remove[{i}]");
        }
    }

    private static void CheckModifiedHeaderName(string name, HashSet<string> seen, Violations v, string field)
    {
        if (name.Length == 0)
        {
            v.Add(field, "required");
        }
        else if (!Names.IsHttpToken(name))
        {
            v.Add(field, $"'{Clip(name)}' is not a header name (letters, digits and !#$%&'*+-.^_`|~ only; no colon, space or CR/LF)");
        }
        else if (RouteRules.ReservedHeaders.Contains(name))
        {
            v.Add(field, $"{name} cannot be modified (hop-by-hop, framing or Host)");
        }
        else if (!seen.Add(name))
        {
            v.Add(field, $"{name} appears twice in this modifier");
        }
    }

    private static bool IsPath(string path) =>
        path.StartsWith('/') && path.Length <= MaxStringLength && path.All(c => c > ' ' && c < 0x7f && c != '?' && c != '#');

    private static bool IsQueryName(string name) =>
        name.Length <= 256 && name.All(c => c > ' ' && c < 0x7f && c != '&' && c != '=' && c != '#');
}
