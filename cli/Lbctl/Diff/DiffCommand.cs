using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Apply;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Diff;

/// <summary>
/// <c>lbctl diff -f FILE...</c>: what <c>apply -f</c> with the same files would change.
/// Exit 0 no differences, 1 differences, 2 usage or any error (as diff(1)).
/// </summary>
internal static class DiffCommand
{
    public const int Differences = 1;
    public const int Trouble = 2;

    public static Command Create(CommandRunner runner)
    {
        var files = FilenameOption.Create("Manifest file, directory of *.yaml files, or - for stdin (repeatable)", required: false);
        var agent = new Option<string?>("--agent")
        {
            Description = "Instead of files: what this agent has applied (-) against what is stored for its tier (+)",
            HelpName = "NAME",
        };

        var revision = new Option<string?>("--revision")
        {
            Description = "Instead of files: what changed from revision A to B, or from A to now",
            HelpName = "A[..B]",
        };

        var command = new Command(
            "diff",
            "Show what apply -f would change: + new resources, ~ changed ones as a line diff of labels and spec; " +
            "unchanged ones print nothing. With --agent NAME: the agent's applied configuration against the stored one. " +
            "With --revision A[..B]: what changed between two revisions (B: now when left out). " +
            "Exit 0 no differences, 1 differences, 2 usage or error");
        command.Options.Add(files);
        command.Options.Add(agent);
        command.Options.Add(revision);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var env = context.Environment;
            var fileArgs = parseResult.GetValue(files) ?? [];
            var agentName = parseResult.GetValue(agent);
            var revisions = parseResult.GetValue(revision);
            if ((fileArgs.Length > 0 ? 1 : 0) + (agentName is null ? 0 : 1) + (revisions is null ? 0 : 1) != 1)
            {
                throw new UsageException("give one of -f FILE, --agent NAME or --revision A[..B]");
            }
            if (revisions is not null)
            {
                return await RevisionDiffAsync(context, revisions, cancellationToken);
            }
            if (agentName is not null)
            {
                return await AgentDiffAsync(context, agentName, cancellationToken);
            }
            var sources = ManifestReader.ResolveSources(fileArgs, env.In, env.CurrentDirectory);
            var resources = ManifestReader.Read(sources);
            if (resources.Count == 0)
            {
                throw new ManifestException($"no resources found in {string.Join(", ", sources.Select(s => s.DisplayName))}");
            }

            // One list call per kind the manifests use; the server stores names lowercased.
            var current = new Dictionary<ApiKind, Dictionary<string, IMessage>>();
            foreach (var kind in resources.Select(r => r.Kind).Distinct())
            {
                var items = await kind.ListAsync(context.Client, new ListRequest(), cancellationToken);
                current[kind] = items.ToDictionary(i => ApiKind.NameOf(i).ToLowerInvariant(), StringComparer.Ordinal);
            }

            var changed = false;
            foreach (var resource in resources)
            {
                var existing = current[resource.Kind].GetValueOrDefault(resource.Name.ToLowerInvariant());
                foreach (var line in ResourceDiff.Lines(resource.Kind, resource.Message, existing))
                {
                    changed = true;
                    context.Out.WriteLine(line);
                }
            }
            return changed ? Differences : ExitCodes.Success;
        }, errorExitCode: Trouble);
        return command;
    }

    private static async Task<int> AgentDiffAsync(CliContext context, string name, CancellationToken cancellationToken)
    {
        var config = await context.Client.GetAgentConfigAsync(new GetRequest { Name = name }, cancellationToken: cancellationToken);
        var header = $"agent {config.Agent} (tier {config.Tier}): applied revision {config.AppliedRevision}, stored revision {config.StoredRevision}";
        if (config.InSync)
        {
            context.Out.WriteLine(header + ": in sync");
            return ExitCodes.Success;
        }
        context.Out.WriteLine(header + ": differs");
        if (config.AppliedJson.Length == 0)
        {
            // The control plane keeps recent versions only; the agent itself still shows it.
            context.Out.WriteLine($"the applied version ({Short(config.AppliedHash)}) is no longer held by the control plane; see the agent's /config");
            return Differences;
        }
        context.Out.WriteLine("--- applied");
        context.Out.WriteLine("+++ stored");
        foreach (var line in LineDiff.Unified(LineDiff.SplitLines(config.AppliedJson), LineDiff.SplitLines(config.StoredJson)))
        {
            context.Out.WriteLine(line);
        }
        return Differences;
    }

    private static async Task<int> RevisionDiffAsync(CliContext context, string range, CancellationToken cancellationToken)
    {
        var (from, to) = ParseRange(range);
        var diff = await context.History.DiffRevisionsAsync(new DiffRevisionsRequest { From = from, To = to }, cancellationToken: cancellationToken);
        context.Out.WriteLine($"--- revision {diff.From}");
        context.Out.WriteLine($"+++ revision {diff.To}");
        foreach (var line in History.RevisionChanges.Lines(diff.Changes))
        {
            context.Out.WriteLine(line);
        }
        return diff.Changes.Count > 0 ? Differences : ExitCodes.Success;
    }

    /// <summary>"A" (to now, sent as 0) or "A..B".</summary>
    internal static (long From, long To) ParseRange(string text)
    {
        var parts = text.Split("..");
        long from = 0, to = 0;
        var valid = parts.Length is 1 or 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out from)
            && (parts.Length == 1 || (long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out to) && to > 0));
        return valid
            ? (from, to)
            : throw new UsageException($"--revision must be A or A..B with revision numbers (B above 0), not \"{text}\"");
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash.Length == 0 ? "none" : hash;
}
