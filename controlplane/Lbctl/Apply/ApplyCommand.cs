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
            var response = await context.Client.ApplyAsync(request, cancellationToken: cancellationToken);

            var suffix = response.DryRun || request.DryRun ? " (dry run)" : "";
            foreach (var result in response.Results)
            {
                context.Out.WriteLine($"{ResourceKinds.SingularOf(result.Kind)}/{result.Name} {result.Action}{suffix}");
            }
            return ExitCodes.Success;
        });
        return command;
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
