using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace LoadBalancer.Agent.Routing;

/// <summary>
/// The regular expressions of routes: whole-value matches (as Envoy's safe_regex) on .NET's
/// NonBacktracking engine, whose matching time is linear in the input, so no pattern and no
/// request can make the agent backtrack catastrophically. Compiled once, when a listener's route
/// table is built.
/// </summary>
public static class RoutePatterns
{
    /// <summary>The control plane refuses longer ones (RouteRules.MaxRegexLength).</summary>
    public const int MaxLength = 1024;

    public static bool TryCompile(string pattern, [NotNullWhen(true)] out Regex? regex, [NotNullWhen(false)] out string? error)
    {
        regex = null;
        if (pattern.Length > MaxLength)
        {
            error = $"longer than {MaxLength} characters";
            return false;
        }
        try
        {
            regex = new Regex($"^(?:{pattern})$", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            error = ex.Message;
            return false;
        }
    }

    public static Regex Compile(string pattern) =>
        TryCompile(pattern, out var regex, out var error) ? regex : throw new ArgumentException($"invalid regular expression '{pattern}': {error}", nameof(pattern));
}
