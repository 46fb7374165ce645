using System.CommandLine;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Tokens;

/// <summary><c>lbctl whoami</c>: the token lbctl calls with, and what its role may do.</summary>
internal static class WhoAmICommand
{
    public static Command Create(CommandRunner runner)
    {
        var command = new Command("whoami", "Show the token lbctl calls with: its id, role and tier");
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var token = await context.Access.WhoAmIAsync(new WhoAmIRequest(), cancellationToken: cancellationToken);
            context.Out.WriteLine($"Server:       {context.Settings.Server.OriginalString}");
            TokenText.WriteSummary(context.Out, token, context.Now);
            return ExitCodes.Success;
        });
        return command;
    }
}
