using System.CommandLine;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Apply;

/// <summary><c>lbctl apply -f FILE... [--dry-run]</c>: every document of every file in one all-or-nothing Apply.</summary>
internal static class ApplyCommand
{
    public static Command Create(CommandRunner runner)
    {
        var files = FilenameOption.Create("Manifest file, directory of *.yaml files, or - for stdin (repeatable)");
        var dryRun = new Option<bool>("--dry-run") { Description = "Validate on the server and show what would change, without changing anything" };

        var command = new Command("apply", "Create or update resources from YAML manifests (all or nothing)");
        command.Options.Add(files);
        command.Options.Add(dryRun);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var env = context.Environment;
            var sources = ManifestReader.ResolveSources(parseResult.GetValue(files)!, env.In, env.CurrentDirectory);
            var resources = ManifestReader.Read(sources);
            if (resources.Count == 0)
            {
                throw new ManifestException($"no resources found in {string.Join(", ", sources.Select(s => s.DisplayName))}");
            }

            var request = new ApplyRequest { DryRun = parseResult.GetValue(dryRun) };
            request.Resources.AddRange(resources.Select(r => r.ToResource()));
            // A dry run says what would change that "configured" alone hides: a backend's state
            // (a manifest without one sets a draining backend back to enabled).
            var stateChanges = request.DryRun
                ? await BackendStateChangesAsync(context, resources, cancellationToken)
                : new Dictionary<string, string>(StringComparer.Ordinal);
            var response = await context.Client.ApplyAsync(request, cancellationToken: cancellationToken);

            var suffix = response.DryRun || request.DryRun ? " (dry run)" : "";
            foreach (var result in response.Results)
            {
                var change = result.Kind == "Backend" && result.Action == "configured" && stateChanges.TryGetValue(result.Name, out var text) ? $" ({text})" : "";
                context.Out.WriteLine($"{ApiKinds.SingularOf(result.Kind)}/{result.Name} {result.Action}{change}{suffix}");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>"state: draining -> enabled" for each manifest backend whose effective state would change, by stored name.</summary>
    private static async Task<Dictionary<string, string>> BackendStateChangesAsync(CliContext context, IReadOnlyList<ManifestResource> resources, CancellationToken cancellationToken)
    {
        var changes = new Dictionary<string, string>(StringComparer.Ordinal);
        var backends = resources.Where(r => r.Kind == ApiKinds.Backend).ToList();
        if (backends.Count == 0)
        {
            return changes;
        }
        var stored = (await context.Client.ListBackendsAsync(new ListRequest(), cancellationToken: cancellationToken)).Items
            .ToDictionary(b => b.Metadata.Name, StringComparer.Ordinal);
        foreach (var resource in backends)
        {
            var name = resource.Name.ToLowerInvariant();
            if (stored.TryGetValue(name, out var current))
            {
                var from = Diff.ServerNormalization.EffectiveState(current.Spec);
                var to = Diff.ServerNormalization.EffectiveState(((Backend)resource.Message).Spec);
                if (from != to)
                {
                    changes[name] = $"state: {from} -> {to}";
                }
            }
        }
        return changes;
    }
}

/// <summary>The -f/--filename option of apply and delete.</summary>
internal static class FilenameOption
{
    public static Option<string[]> Create(string description, bool required = true) => new("--filename", "-f")
    {
        Description = description,
        Required = required,
        HelpName = "FILE",
        Arity = required ? ArgumentArity.OneOrMore : ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };
}
