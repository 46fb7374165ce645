using System.CommandLine;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Backends;

/// <summary><c>lbctl backend drain|enable|disable NAME</c>: changes only spec.state.</summary>
internal static class BackendCommand
{
    public static Command Create(CommandRunner runner)
    {
        var command = new Command("backend", "Change a backend's state: drain, enable, disable");
        command.Subcommands.Add(StateCommand(runner, "drain", "draining",
            "Take no new connections or sessions; in-flight requests and sticky sessions finish (up to the pool's drainTimeout)"));
        command.Subcommands.Add(StateCommand(runner, "enable", "enabled", "Take traffic again"));
        command.Subcommands.Add(StateCommand(runner, "disable", "disabled", "Take no traffic at all"));
        return command;
    }

    private static Command StateCommand(CommandRunner runner, string verb, string state, string description)
    {
        var nameArgument = NameArgument.Create<string>("Backend name", ArgumentArity.ExactlyOne);
        runner.Names.AddTo(nameArgument, ApiKinds.Backend);
        var command = new Command(verb, description);
        command.Arguments.Add(nameArgument);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var name = parseResult.GetValue(nameArgument)!;
            var line = await ConflictRetry.RunAsync(async () =>
            {
                var backend = await context.Client.GetBackendAsync(new GetRequest { Name = name }, cancellationToken: cancellationToken);
                var current = backend.Spec?.State is { Length: > 0 } s ? s : "enabled";
                if (current == state)
                {
                    return $"backend/{name} unchanged (already {state})";
                }

                // Send back what was read (labels, resourceVersion for the concurrency check),
                // minus the server-written status.
                backend.Spec ??= new BackendSpec();
                backend.Spec.State = state;
                backend.Status = null;
                await context.Client.UpdateBackendAsync(new WriteBackendRequest { Backend = backend }, cancellationToken: cancellationToken);
                return $"backend/{name} {state}";
            }, cancellationToken);
            context.Out.WriteLine(line);
            return ExitCodes.Success;
        });
        return command;
    }
}
