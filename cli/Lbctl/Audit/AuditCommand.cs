using System.CommandLine;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Audit;

/// <summary><c>lbctl audit [--kind K] [--name N] [--limit N] [-o table|json|yaml]</c>: who changed what, newest first.</summary>
internal static class AuditCommand
{
    public static Command Create(CommandRunner runner)
    {
        var kind = new Option<string?>("--kind")
        {
            Description = $"Only changes of this kind: {ApiKinds.CommandLineNames}, tokens (token)",
            HelpName = "KIND",
        };
        var name = new Option<string?>("--name") { Description = "Only changes of the resource (or token id) with this name", HelpName = "NAME" };
        var limit = new Option<int?>("--limit") { Description = "At most this many entries (server default 100, at most 1000)", HelpName = "N" };
        var output = OutputOption.Create();

        var command = new Command("audit", "Show the audit log: who changed which resource or token, newest first");
        command.Options.Add(kind);
        command.Options.Add(name);
        command.Options.Add(limit);
        command.Options.Add(output);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var request = new ListAuditRequest
            {
                Kind = AuditKind(parseResult.GetValue(kind)),
                Name = parseResult.GetValue(name) ?? "",
                Limit = parseResult.GetValue(limit) ?? 0,
            };
            var list = await context.Access.ListAuditAsync(request, cancellationToken: cancellationToken);
            ListOutput.Write(context, parseResult.GetValue(output), list.Items, "No audit entries found.", AuditTable.Headers, AuditTable.Row);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The command-line kind names (pools, po, ...) mapped to the kind the log stores ("Pool"):
    /// the server matches that name only, so "pools" would silently list nothing.
    /// </summary>
    private static string AuditKind(string? text)
    {
        if (text is null)
        {
            return "";
        }
        if (ApiKinds.FromCommandLine(text) is { } kind)
        {
            return kind.Kind;
        }
        return text.ToLowerInvariant() is "token" or "tokens"
            ? AuditTable.TokenKind
            : throw new UsageException($"unknown kind \"{text}\" for --kind; expected one of {ApiKinds.CommandLineNames}, tokens (token)");
    }
}
