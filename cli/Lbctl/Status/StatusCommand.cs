using System.CommandLine;
using System.Globalization;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Get;
using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Status;

/// <summary><c>lbctl status</c>: revision, resource counts, and each tier with its agents.</summary>
internal static class StatusCommand
{
    public static Command Create(CommandRunner runner)
    {
        var command = new Command("status", "Show the control plane's revision, resource counts and agents per tier");
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var status = await context.Client.GetStatusAsync(new GetStatusRequest(), cancellationToken: cancellationToken);
            var agents = await context.Client.ListAgentsAsync(new ListRequest(), cancellationToken: cancellationToken);
            Write(context.Out, context.Settings.Server, status, agents.Items, context.Now);
            return ExitCodes.Success;
        });
        return command;
    }

    public static void Write(TextWriter output, Uri server, StatusResponse status, IReadOnlyList<Agent> agents, DateTimeOffset now)
    {
        var version = status.Version is { Length: > 0 } v ? $" (version {v})" : "";
        output.WriteLine($"Server:      {server.OriginalString}{version}");
        output.WriteLine($"Revision:    {status.Revision.ToString(CultureInfo.InvariantCulture)}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Resources:   {status.Pools} pools, {status.Backends} backends, {status.Listeners} listeners, {status.Certificates} certificates"));

        output.WriteLine();
        if (status.Tiers.Count == 0)
        {
            output.WriteLine("No tiers yet: apply a listener and start an agent for its tier.");
        }
        else
        {
            TableWriter.Write(
                output,
                ["TIER", "REVISION", "SNAPSHOT", "LISTENERS", "AGENTS", "IN-SYNC"],
                status.Tiers.OrderBy(t => t.Tier, StringComparer.Ordinal).Select(t => (IReadOnlyList<string>)
                [
                    t.Tier,
                    t.Revision.ToString(CultureInfo.InvariantCulture),
                    t.SnapshotHash.Length > 12 ? t.SnapshotHash[..12] : Or(t.SnapshotHash),
                    t.Listeners.ToString(CultureInfo.InvariantCulture),
                    $"{t.AgentsConnected.ToString(CultureInfo.InvariantCulture)}/{t.AgentsTotal.ToString(CultureInfo.InvariantCulture)} connected",
                    $"{t.AgentsInSync.ToString(CultureInfo.InvariantCulture)}/{t.AgentsConnected.ToString(CultureInfo.InvariantCulture)}",
                ]));
        }

        output.WriteLine();
        if (agents.Count == 0)
        {
            output.WriteLine("No agents registered.");
            return;
        }
        TableWriter.Write(
            output,
            ["AGENT", "TIER", "STATUS", "REVISION", "LAST-SEEN", "VERSION", "LAST-NACK"],
            agents.OrderBy(a => a.Spec?.Tier, StringComparer.Ordinal).ThenBy(a => a.Metadata?.Name, StringComparer.Ordinal).Select(a => (IReadOnlyList<string>)
            [
                a.Metadata?.Name ?? "",
                Or(a.Spec?.Tier),
                ResourceTables.AgentPhase(a.Status),
                (a.Status?.AppliedRevision ?? 0).ToString(CultureInfo.InvariantCulture),
                a.Status?.LastSeen is { } seen ? Age.Since(seen, now) : "never",
                Or(a.Status?.SoftwareVersion),
                Or(a.Status?.LastNackError),
            ]));
    }

    private static string Or(string? value) => string.IsNullOrEmpty(value) ? "-" : value;
}
