using System.CommandLine;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Apply;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Delete;

/// <summary><c>lbctl delete KIND NAME...</c> or <c>lbctl delete -f FILE...</c>.</summary>
internal static class DeleteCommand
{
    public static Command Create(CommandRunner runner)
    {
        var kindArgument = KindArgument.Create(optional: true);
        var names = NameArgument.Create<string[]>("Names of the resources to delete", ArgumentArity.ZeroOrMore);
        runner.Names.AddTo(names, kindArgument);
        var files = FilenameOption.Create("Delete every resource named in these manifests, last document first", required: false);
        var dryRun = new Option<bool>("--dry-run") { Description = "Check that the delete would succeed, without deleting" };
        var ignoreNotFound = new Option<bool>("--ignore-not-found") { Description = "Treat a resource that does not exist as deleted" };

        var command = new Command("delete", "Delete resources by kind and name, or those named in manifests");
        command.Arguments.Add(kindArgument);
        command.Arguments.Add(names);
        command.Options.Add(files);
        command.Options.Add(dryRun);
        command.Options.Add(ignoreNotFound);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var kind = parseResult.GetValue(kindArgument);
            var nameList = parseResult.GetValue(names) ?? [];
            var fileList = parseResult.GetValue(files) ?? [];

            List<(ApiKind Kind, string Name)> targets;
            if (fileList.Length > 0)
            {
                if (kind is not null)
                {
                    throw new UsageException("give either KIND NAME... or -f FILE, not both");
                }
                var sources = ManifestReader.ResolveSources(fileList, context.Environment.In, context.Environment.CurrentDirectory);
                // Only names are needed: certificate files referenced by the manifest need not exist any more.
                var resources = ManifestReader.Read(sources, loadFiles: false);
                // Reverse order: manifests define what is used before its users (pool before backends).
                targets = resources.Reverse().Select(r => (r.Kind, r.Name)).ToList();
            }
            else if (kind is null)
            {
                throw new UsageException("missing KIND and NAME (or -f FILE)");
            }
            else if (nameList.Length == 0)
            {
                throw new UsageException($"missing NAME of the {kind.Singular} to delete");
            }
            else
            {
                targets = nameList.Select(n => (kind, n)).ToList();
            }

            var suffix = parseResult.GetValue(dryRun) ? " (dry run)" : "";
            var exitCode = ExitCodes.Success;
            foreach (var (targetKind, name) in targets)
            {
                try
                {
                    var request = new DeleteRequest { Name = name, DryRun = parseResult.GetValue(dryRun) };
                    await targetKind.DeleteAsync(context.Client, request, cancellationToken);
                    context.Out.WriteLine($"{targetKind.Ref(name)} deleted{suffix}");
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
                {
                    // As kubectl: report it, go on with the rest, and fail at the end.
                    if (!parseResult.GetValue(ignoreNotFound))
                    {
                        exitCode = ErrorPrinter.PrintRpcError(ex, context.Err, context.Settings.Server);
                    }
                }
            }
            return exitCode;
        });
        return command;
    }
}
