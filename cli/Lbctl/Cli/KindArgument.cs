using System.CommandLine;
using System.CommandLine.Completions;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Cli;

/// <summary>The KIND argument shared by get, describe and delete: an unknown kind is a parse (usage) error.</summary>
internal static class KindArgument
{
    public static Argument<ApiKind?> Create(bool optional = false)
    {
        var argument = new Argument<ApiKind?>("KIND")
        {
        Description = $"Resource kind: {ApiKinds.CommandLineNames}",
        Arity = optional ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return null;
            }
            var text = result.Tokens[0].Value;
            var kind = ApiKinds.FromCommandLine(text);
            if (kind is null)
            {
                result.AddError($"unknown resource kind \"{text}\"; expected one of {ApiKinds.CommandLineNames}");
            }
            return kind;
        },
        };
        // The custom parser hides the kinds from completion: offer the plural and singular names,
        // while KIND is the word being typed (System.CommandLine asks every argument of the verb).
        var names = ApiKinds.All.SelectMany(k => new[] { k.Plural, k.Singular }).ToArray();
        argument.CompletionSources.Add(context => context.ParseResult.GetResult(argument) is not { Tokens.Count: > 0 } || IsLastWordTyped(context, argument)
            ? names.Where(n => n.StartsWith(context.WordToComplete, StringComparison.OrdinalIgnoreCase)).Select(n => new CompletionItem(n))
            : []);
        return argument;
    }

    /// <summary>True when the word under the cursor is this argument's last value (still being typed).</summary>
    public static bool IsLastWordTyped(CompletionContext context, Argument argument) =>
        context.WordToComplete.Length > 0
        && context.ParseResult.GetResult(argument) is { Tokens: [.., var last] }
        && last.Value == context.WordToComplete
        && context.ParseResult.Tokens is [.., var typed]
        && last.Equals(typed);
}

/// <summary>
/// NAME arguments. Resource names are DNS labels and never start with '-', so such a token
/// is a mistyped option: a usage error rather than a lookup of a resource called "--bogus".
/// </summary>
internal static class NameArgument
{
    public static Argument<T> Create<T>(string description, ArgumentArity arity)
    {
        var argument = new Argument<T>("NAME") { Description = description, Arity = arity };
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (token.Value.StartsWith('-'))
                {
                    result.AddError($"unknown option \"{token.Value}\"");
                }
            }
        });
        return argument;
    }
}
