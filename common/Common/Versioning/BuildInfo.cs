using System.Reflection;

namespace LoadBalancer.Common.Versioning;

/// <summary>
/// The version and commit an executable was built from. The SDK writes the commit into the
/// informational version ("1.0.0+COMMIT") when the build ran in a git checkout
/// (Directory.Build.props); a build from a source tarball has no commit, and says so.
/// </summary>
public sealed record BuildInfo(string Version, string? Commit)
{
    /// <summary>Shown for a build made outside a git checkout.</summary>
    public const string UnknownCommit = "unknown";

    /// <summary>The build of the assembly holding <typeparamref name="T"/>.</summary>
    public static BuildInfo Of<T>() => Of(typeof(T).Assembly);

    public static BuildInfo Of(Assembly assembly) =>
        Parse(assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString(3)
            ?? "0.0.0");

    /// <summary>Splits "VERSION+COMMIT" (SemVer build metadata); a commit is kept only if it is hex.</summary>
    public static BuildInfo Parse(string informationalVersion)
    {
        var plus = informationalVersion.IndexOf('+', StringComparison.Ordinal);
        if (plus < 0)
        {
            return new BuildInfo(informationalVersion, null);
        }
        var commit = informationalVersion[(plus + 1)..];
        var isHex = commit.Length > 0 && commit.All(char.IsAsciiHexDigit);
        return new BuildInfo(informationalVersion[..plus], isHex ? commit : null);
    }

    /// <summary>The first 12 hex digits: enough to name a commit, short enough to read.</summary>
    public string ShortCommit => Commit is { Length: > 12 } c ? c[..12] : Commit ?? UnknownCommit;

    /// <summary>"lb-agent 1.0.0 (commit 0123456789ab)", the line --version prints.</summary>
    public string Describe(string program) => $"{program} {Version} (commit {ShortCommit})";

    /// <summary>
    /// Answers "PROGRAM --version" (the flag alone) and returns true; anything else is left to
    /// the program's own parser.
    /// </summary>
    public bool TryPrintVersion(IReadOnlyList<string> args, string program, TextWriter output)
    {
        if (args is not ["--version"])
        {
            return false;
        }
        output.WriteLine(Describe(program));
        return true;
    }
}
