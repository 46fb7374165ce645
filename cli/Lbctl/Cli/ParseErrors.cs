using System.CommandLine;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// What a command line that does not parse gets: one line saying what was not understood, with
/// "did you mean" when a flag or command is close (or is a verb of another command, such as
/// <c>drain</c> for <c>backend drain</c>), and where the help is; not System.CommandLine's
/// every-token error list followed by the whole help text.
/// </summary>
internal static class ParseErrors
{
    public static void Print(ParseResult parseResult, RootCommand root, IReadOnlyList<string> args, TextWriter err)
    {
        var command = parseResult.CommandResult.Command;
        var path = CommandPath(parseResult);
        var unmatched = parseResult.UnmatchedTokens;
        // A mistyped flag can be taken for an argument, leaving its value unmatched instead:
        // the first flag-looking word that names no option of the command is the real culprit.
        var known = command.Options.Concat(root.Options.Where(o => o.Recursive)).SelectMany(o => o.Aliases.Prepend(o.Name)).ToHashSet(StringComparer.Ordinal);
        var unknownFlag = args.FirstOrDefault(a => a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2 && !known.Contains(a.Split('=')[0]));
        if (unknownFlag is not null || unmatched.Count > 0)
        {
            var token = unknownFlag ?? unmatched[0];
            var suggestion = token.StartsWith('-')
                ? SuggestOption(command, root, token)
                : SuggestCommand(command, root, token, args);
            var what = token.StartsWith('-') ? "flag" : command.Subcommands.Count > 0 ? "command" : "argument";
            err.WriteLine($"error: unknown {what} '{token}'{(suggestion is null ? "" : $"; did you mean '{suggestion}'?")}");
        }
        else
        {
            foreach (var message in parseResult.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal))
            {
                err.WriteLine($"error: {message}");
            }
        }
        err.WriteLine($"Run '{string.Join(' ', ["lbctl", .. path, "--help"])}' for usage.");
    }

    private static string? SuggestOption(Command command, RootCommand root, string token)
    {
        var names = command.Options.Concat(root.Options.Where(o => o.Recursive))
            .SelectMany(o => o.Aliases.Prepend(o.Name))
            .Where(n => n.StartsWith("--", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal);
        return Spelling.Closest(token.Split('=')[0], names);
    }

    private static string? SuggestCommand(Command command, RootCommand root, string token, IReadOnlyList<string> args)
    {
        var rest = args.SkipWhile(a => a != token).Skip(1).ToList();
        // A verb of another command (lbctl drain web-1: backend drain).
        var elsewhere = FindByName(root, token, []).FirstOrDefault();
        if (elsewhere is not null)
        {
            return string.Join(' ', ["lbctl", .. elsewhere, .. rest]);
        }
        var near = Spelling.Closest(token, command.Subcommands.SelectMany(c => c.Aliases.Prepend(c.Name)));
        return near is null ? null : string.Join(' ', ["lbctl", .. CommandPathOf(command, root), near, .. rest]);
    }

    private static IEnumerable<List<string>> FindByName(Command command, string name, List<string> path)
    {
        foreach (var child in command.Subcommands)
        {
            var childPath = new List<string>(path) { child.Name };
            if (child.Name == name || child.Aliases.Contains(name))
            {
                yield return childPath;
            }
            foreach (var found in FindByName(child, name, childPath))
            {
                yield return found;
            }
        }
    }

    private static List<string> CommandPathOf(Command command, RootCommand root) =>
        command == root ? [] : FindByName(root, command.Name, []).FirstOrDefault() ?? [];

    private static List<string> CommandPath(ParseResult parseResult)
    {
        var path = new List<string>();
        for (var result = parseResult.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            if (result.Parent is not null)
            {
                path.Insert(0, result.Command.Name);
            }
        }
        return path;
    }
}
