using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Routing;

/// <summary>Gateway API's path modifiers, shared by RequestRedirect and URLRewrite.</summary>
public static class PathModifiers
{
    /// <summary>
    /// The path after the modifier: ReplaceFullPath replaces it whole; ReplacePrefixMatch replaces
    /// the prefix the route matched by, at a segment boundary ("/api" to "/v2" turns "/api/x" into
    /// "/v2/x", and "/" to "/v2" turns "/x" into "/v2/x").
    /// </summary>
    public static string Apply(PathModifierConfig? modifier, string? matchedPrefix, string path)
    {
        if (modifier is null)
        {
            return path;
        }
        if (modifier.Type != "ReplacePrefixMatch" || matchedPrefix is null)
        {
            return modifier.Value;
        }
        var prefix = matchedPrefix.TrimEnd('/');
        var rest = path.Length >= prefix.Length ? path[prefix.Length..] : string.Empty;
        var result = modifier.Value.TrimEnd('/') + rest;
        return result.Length == 0 ? "/" : result.StartsWith('/') ? result : "/" + result;
    }
}
