using System.CommandLine;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.History;

/// <summary>
/// <c>lbctl rollback --to REV [--dry-run]</c>: one new revision whose content equals REV, all or
/// nothing; with --dry-run, the changes it would make and nothing written.
/// </summary>
internal static class RollbackCommand
{
    public static Command Create(CommandRunner runner)
    {
        var to = new Option<long>("--to")
        {
            Description = "The revision whose configuration to restore (see lbctl history)",
            HelpName = "REV",
            Required = true,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what the rollback would change; write nothing" };
        var command = new Command("rollback", "Restore the whole configuration as it was at a revision, as one new revision " +
            "(resources created since are deleted, deleted ones come back with their keys); admin only");
        command.Options.Add(to);
        command.Options.Add(dryRun);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var target = parseResult.GetValue(to);
            var response = await context.History.RollbackAsync(new RollbackRequest { To = target, DryRun = parseResult.GetValue(dryRun) }, cancellationToken: cancellationToken);
            foreach (var warning in response.Warnings)
            {
                context.Err.WriteLine("warning: " + warning);
            }
            foreach (var line in RevisionChanges.Lines(response.Changes))
            {
                context.Out.WriteLine(line);
            }
            if (response.Changes.Count == 0)
            {
                context.Out.WriteLine($"revision {target} has the same configuration as the current revision {response.Revision}; nothing to do");
            }
            else if (response.DryRun)
            {
                context.Out.WriteLine($"dry run: rolling back to revision {target} would change {response.Changes.Count} resource(s); nothing written");
            }
            else
            {
                context.Out.WriteLine($"rolled back to revision {target}: revision {response.Revision} written ({response.Changes.Count} resource(s) changed)");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
