using System.CommandLine;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Common.Versioning;

namespace LoadBalancer.Cli.Version;

/// <summary>
/// <c>lbctl version [--client]</c>: lbctl's own version and commit, then the server's (from
/// GetStatus, so the call is authenticated and authorized like any read).
/// </summary>
internal static class VersionCommand
{
    public static Command Create(CommandRunner runner)
    {
        var clientOnly = new Option<bool>("--client") { Description = "Print lbctl's version only, without calling the server" };
        var command = new Command("version", "Show the version and commit of lbctl and of the control plane") { clientOnly };
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            // The client's line first: it is known even when the server cannot be reached.
            context.Out.WriteLine($"Client: {BuildInfo.Of<CommandRunner>().Describe("lbctl")}");
            if (parseResult.GetValue(clientOnly))
            {
                return ExitCodes.Success;
            }
            var status = await context.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: cancellationToken);
            context.Out.WriteLine($"Server: {ServerBuild(status).Describe("lb-controlplane")} at {context.Settings.Server.OriginalString}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The server's build; a server from before the commit field reports its version alone.</summary>
    internal static BuildInfo ServerBuild(StatusResponse status) =>
        status.Commit is { Length: > 0 } commit
            ? new BuildInfo(status.Version, commit)
            : BuildInfo.Parse(status.Version is { Length: > 0 } v ? v : "unknown");
}
