using System.Text.RegularExpressions;
using LoadBalancer.Api.V1;
using Route = LoadBalancer.Api.V1.Route;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>
/// The names and limits of a route's matches, backends and filters, following Gateway API's
/// HTTPRoute (its enum values, its per-rule limits of 64 matches and 16 of everything else).
/// </summary>
public static class RouteRules
{
    public const string Exact = "Exact";
    public const string PathPrefix = "PathPrefix";
    public const string RegularExpression = "RegularExpression";
    public const string RequestRedirect = "RequestRedirect";
    public const string UrlRewrite = "URLRewrite";
    public const string RequestHeaderModifier = "RequestHeaderModifier";
    public const string ResponseHeaderModifier = "ResponseHeaderModifier";
    public const string RequestMirror = "RequestMirror";
    public const string ReplaceFullPath = "ReplaceFullPath";
    public const string ReplacePrefixMatch = "ReplacePrefixMatch";

    public const int MaxMatches = 64;
    public const int MaxPerList = 16;
    public const int MaxBackendWeight = 1000;

    /// <summary>A regular expression is bounded in length; the engine (NonBacktracking) bounds its time.</summary>
    public const int MaxRegexLength = 1024;

    public static readonly IReadOnlySet<string> Methods = new HashSet<string>(StringComparer.Ordinal)
    {
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    };

    public static readonly IReadOnlySet<int> RedirectStatusCodes = new HashSet<int> { 301, 302, 303, 307, 308 };

    /// <summary>Headers a modifier may not touch: hop-by-hop ones, framing, and Host (urlRewrite.hostname sets it).</summary>
    public static readonly IReadOnlySet<string> ReservedHeaders = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "host",
    };

    /// <summary>The pools a route sends to: its single pool or its split.</summary>
    public static IEnumerable<string> PoolsOf(Route route) =>
        route.Pool.Length > 0 ? [route.Pool] : route.Backends.Select(b => b.Pool);

    /// <summary>The error a pattern gives with the engine the agent uses, or null when it compiles.</summary>
    public static string? CheckRegex(string pattern)
    {
        if (pattern.Length > MaxRegexLength)
        {
            return $"a regular expression is at most {MaxRegexLength} characters";
        }
        try
        {
            _ = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            return null;
        }
        catch (ArgumentException ex)
        {
            return "invalid regular expression: " + ex.Message;
        }
        catch (NotSupportedException ex)
        {
            // Backreferences, lookarounds and atomic groups: the bounded engine has none of them.
            return "invalid regular expression: " + ex.Message;
        }
    }

    /// <summary>Visible ASCII, space and tab only: no CR, LF or NUL that would split a header.</summary>
    public static bool IsHeaderValue(string value) =>
        value.Length <= SpecValidator.MaxStringLength && value.All(c => c == '\t' || (c >= ' ' && c <= '~'));
}
