using System.CommandLine;
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
        var files = FilenameOption.Create("Manifest file, directory of *.yaml files, or - for stdin (repeatable)");

        var command = new Command(
            "diff",
            "Show what apply -f would change: + new resources, ~ changed ones as a line diff of labels and spec; " +
            "unchanged ones print nothing. Exit 0 no differences, 1 differences, 2 usage or error");
        command.Options.Add(files);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var env = context.Environment;
            var sources = ManifestReader.ResolveSources(parseResult.GetValue(files)!, env.In, env.CurrentDirectory);
            var resources = ManifestReader.Read(sources);
            if (resources.Count == 0)
            {
                throw new ManifestException($"no resources found in {string.Join(", ", sources.Select(s => s.DisplayName))}");
            }

            // One list call per kind the manifests use; the server stores names lowercased.
            var current = new Dictionary<ResourceKind, Dictionary<string, IMessage>>();
            foreach (var kind in resources.Select(r => r.Kind).Distinct())
            {
                var items = await kind.ListAsync(context.Client, new ListRequest(), cancellationToken);
                current[kind] = items.ToDictionary(i => ResourceKind.NameOf(i).ToLowerInvariant(), StringComparer.Ordinal);
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
}
