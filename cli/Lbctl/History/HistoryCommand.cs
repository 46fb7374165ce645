using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Export;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.History;

/// <summary>
/// <c>lbctl history [KIND [NAME]] [--kind K] [--name N] [--limit N] [-o table|json|yaml]</c>:
/// one line per revision, newest first; <c>lbctl history show REV</c>: the whole configuration
/// at REV as YAML that <c>apply -f</c> takes (no private keys).
/// </summary>
internal static class HistoryCommand
{
    /// <summary>Changes named on one table line; the rest are counted.</summary>
    private const int ChangesShown = 4;

    public static Command Create(CommandRunner runner)
    {
        var kindArgument = KindArgument.Create(optional: true);
        var nameArgument = NameArgument.Create<string?>("Only revisions that changed the resource with this name", ArgumentArity.ZeroOrOne);
        var kind = new Option<string?>("--kind") { Description = $"Only revisions that changed this kind: {ApiKinds.CommandLineNames}", HelpName = "KIND" };
        var name = new Option<string?>("--name") { Description = "Only revisions that changed the resource with this name", HelpName = "NAME" };
        var limit = new Option<int?>("--limit") { Description = "At most this many revisions (server default 100, at most 1000)", HelpName = "N" };
        var output = OutputOption.Create();

        var command = new Command("history", "Show the configuration's revisions, newest first: when, who, what changed. " +
            "history show REV prints a whole revision; diff --revision compares two; rollback --to restores one");
        command.Arguments.Add(kindArgument);
        command.Arguments.Add(nameArgument);
        command.Options.Add(kind);
        command.Options.Add(name);
        command.Options.Add(limit);
        command.Options.Add(output);
        command.Subcommands.Add(CreateShow(runner));
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var kindGiven = parseResult.GetValue(kindArgument)?.Kind ?? KindOption(parseResult.GetValue(kind));
            if (kindGiven.Length > 0 && kindGiven == ApiKinds.Agent.Kind)
            {
                throw new UsageException("agents have no configuration history; give pools, backends, listeners or certificates");
            }
            var request = new ListHistoryRequest
            {
                Kind = kindGiven,
                Name = parseResult.GetValue(nameArgument) ?? parseResult.GetValue(name) ?? "",
                Limit = parseResult.GetValue(limit) ?? 0,
            };
            var list = await context.History.ListHistoryAsync(request, cancellationToken: cancellationToken);
            var format = parseResult.GetValue(output);
            ListOutput.Write(context, format, list.Items, "No revisions found.", ["REVISION", "TIME", "WHO", "CHANGES"], Row);
            if (format == OutputOption.Table && list.OldestKept > 1)
            {
                context.Err.WriteLine($"Revisions before {list.OldestKept} were compacted.");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateShow(CommandRunner runner)
    {
        var revision = RevisionArgument("REV", "The revision to print");
        var command = new Command("show", "Print the whole configuration at revision REV as YAML for apply -f (no private keys, as export)");
        command.Arguments.Add(revision);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var content = await context.History.GetRevisionAsync(new GetRevisionRequest { Revision = parseResult.GetValue(revision) }, cancellationToken: cancellationToken);
            await context.Out.WriteAsync(ExportCommand.Render(content.Resources.Select(ApiKinds.FromResource)));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>A revision number argument: a whole number, 0 or more.</summary>
    public static Argument<long> RevisionArgument(string name, string description)
    {
        var argument = new Argument<long>(name) { Description = description };
        argument.Validators.Add(result =>
        {
            if (result.Tokens is [var token] && !long.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                result.AddError($"{name} must be a revision number, not \"{token.Value}\"");
            }
        });
        return argument;
    }

    /// <summary>"12  2026-11-25T12:00:00Z  t-1 (admin)  update pool/web, create backend/web-2".</summary>
    public static IReadOnlyList<string> Row(HistoryEntry entry)
    {
        var changes = entry.Changes.Take(ChangesShown)
            .Select(c => $"{c.Operation} {(ApiKinds.FromManifestKind(c.Kind)?.Ref(c.Name) ?? $"{c.Kind}/{c.Name}")}")
            .ToList();
        if (entry.Changes.Count > ChangesShown)
        {
            changes.Add($"and {entry.Changes.Count - ChangesShown} more");
        }
        var text = string.Join(", ", changes);
        if (entry.RollbackTo > 0)
        {
            text = $"rollback to {entry.RollbackTo}" + (text.Length > 0 ? ": " + text : "");
        }
        return
        [
            entry.Revision.ToString(CultureInfo.InvariantCulture),
            entry.At is null ? "-" : entry.At.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            entry.Role.Length == 0 ? entry.Actor : $"{entry.Actor} ({entry.Role})",
            text,
        ];
    }

    private static string KindOption(string? text) =>
        text is null
            ? ""
            : ApiKinds.FromCommandLine(text)?.Kind
                ?? throw new UsageException($"unknown kind \"{text}\" for --kind; expected one of {ApiKinds.CommandLineNames}");
}
