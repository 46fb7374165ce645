using System.CommandLine;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Cli;

/// <summary>The KIND argument shared by get, describe and delete: an unknown kind is a parse (usage) error.</summary>
internal static class KindArgument
{
    public static Argument<ApiKind?> Create(bool optional = false) => new("KIND")
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
