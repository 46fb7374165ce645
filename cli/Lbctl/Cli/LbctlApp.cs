using System.CommandLine;
using System.CommandLine.Invocation;
using LoadBalancer.Cli.Apply;
using LoadBalancer.Cli.Audit;
using LoadBalancer.Cli.Backends;
using LoadBalancer.Cli.Certificates;
using LoadBalancer.Cli.Completion;
using LoadBalancer.Cli.Config;
using LoadBalancer.Cli.Delete;
using LoadBalancer.Cli.Describe;
using LoadBalancer.Cli.Diff;
using LoadBalancer.Cli.Events;
using LoadBalancer.Cli.Export;
using LoadBalancer.Cli.Get;
using LoadBalancer.Cli.History;
using LoadBalancer.Cli.Status;
using LoadBalancer.Cli.Tokens;
using LoadBalancer.Common.Versioning;
using LoadBalancer.Cli.Version;

namespace LoadBalancer.Cli.Cli;

/// <summary>Builds the command tree and runs one command line.</summary>
internal static class LbctlApp
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliEnvironment environment, CancellationToken cancellationToken = default)
    {
        var root = Build(environment);
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            // One line on what was not understood (with a suggestion) and where the help is,
            // rather than every token's error and the whole help; exit 2 as the contract says.
            ParseErrors.Print(parseResult, root, args, environment.Err);
            return ExitCodes.Usage;
        }
        return await parseResult.InvokeAsync(new InvocationConfiguration { Output = environment.Out, Error = environment.Err }, cancellationToken);
    }

    public static RootCommand Build(CliEnvironment environment)
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("lbctl controls the load balancer's control plane: apply manifests, inspect and change resources, manage API tokens, read the audit log and events.");
        globals.AddTo(root);
        // --version prints the line lb-agent and lb-controlplane print, not the raw informational version.
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = new VersionLineAction();
        }

        var runner = new CommandRunner(environment, globals, path =>
            root.Parse([.. path, "--help"]).Invoke(new InvocationConfiguration { Output = environment.Err, Error = environment.Err }));

        root.Subcommands.Add(ApplyCommand.Create(runner));
        root.Subcommands.Add(DiffCommand.Create(runner));
        root.Subcommands.Add(ExportCommand.Create(runner));
        root.Subcommands.Add(GetCommand.Create(runner));
        root.Subcommands.Add(DescribeCommand.Create(runner));
        root.Subcommands.Add(DeleteCommand.Create(runner));
        root.Subcommands.Add(BackendCommand.Create(runner));
        root.Subcommands.Add(CertCommand.Create(runner));
        root.Subcommands.Add(StatusCommand.Create(runner));
        root.Subcommands.Add(TokenCommand.Create(runner));
        root.Subcommands.Add(WhoAmICommand.Create(runner));
        root.Subcommands.Add(AuditCommand.Create(runner));
        root.Subcommands.Add(EventsCommand.Create(runner));
        root.Subcommands.Add(HistoryCommand.Create(runner));
        root.Subcommands.Add(RollbackCommand.Create(runner));
        root.Subcommands.Add(ConfigCommand.Create(runner));
        root.Subcommands.Add(VersionCommand.Create(runner));
        root.Subcommands.Add(CompletionCommand.Create(runner));
        return root;
    }

    private sealed class VersionLineAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(BuildInfo.Of<VersionLineAction>().Describe("lbctl"));
            return ExitCodes.Success;
        }
    }
}
