using System.CommandLine;
using System.CommandLine.Completions;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Completion;

/// <summary>
/// Completes resource names from the server: a completion source on NAME arguments and
/// name-valued options. It connects as the command line being completed would (its flags,
/// the environment, the config file), waits at most <see cref="Timeout"/>, and completes
/// nothing on any failure, so that a slow or unreachable server never holds up the shell.
/// </summary>
internal sealed class ResourceNameCompletion(CliEnvironment environment, GlobalOptions globals)
{
    /// <summary>Short enough that a TAB on a dead server feels like no answer, not a hang.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1.5);

    /// <summary>Adds the names of one kind.</summary>
    public void AddTo(Argument argument, ApiKind kind) =>
        argument.CompletionSources.Add(context => Complete(context, _ => kind));

    /// <summary>Adds the names of the kind typed in <paramref name="kindArgument"/>, once it is typed.</summary>
    public void AddTo(Argument argument, Argument<ApiKind?> kindArgument) =>
        argument.CompletionSources.Add(context => KindArgument.IsLastWordTyped(context, kindArgument)
            ? []
            : Complete(context, parseResult => parseResult.GetValue(kindArgument)));

    public void AddTo(Option option, ApiKind kind) =>
        option.CompletionSources.Add(context => Complete(context, _ => kind));

    private IEnumerable<CompletionItem> Complete(CompletionContext completion, Func<ParseResult, ApiKind?> kindOf)
    {
        try
        {
            if (kindOf(completion.ParseResult) is not { } kind)
            {
                return [];
            }
            // Completing is no first use: the config file is never written from here.
            using var context = new CliContext(environment, globals.Read(completion.ParseResult), writeConfigOnFirstUse: false);
            using var timeout = new CancellationTokenSource(Timeout);
            // Completion sources are synchronous in System.CommandLine; one bounded call is fine here.
            var items = kind.ListAsync(context.Client, new ListRequest(), timeout.Token).GetAwaiter().GetResult();
            return items.Select(ApiKind.NameOf)
                .Where(name => name.StartsWith(completion.WordToComplete, StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .Select(name => new CompletionItem(name))
                .ToList();
        }
#pragma warning disable CA1031 // Any failure (no server, refused token, timeout, bad config) completes nothing.
        catch (Exception)
#pragma warning restore CA1031
        {
            return [];
        }
    }
}
