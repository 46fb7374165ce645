using System.CommandLine;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Describe;

/// <summary><c>lbctl describe KIND [NAME]</c>: without a name, every resource of the kind.</summary>
internal static class DescribeCommand
{
    public static Command Create(CommandRunner runner)
    {
        var kindArgument = KindArgument.Create();
        var nameArgument = NameArgument.Create<string?>("Resource name (default: all)", ArgumentArity.ZeroOrOne);
        runner.Names.AddTo(nameArgument, kindArgument);

        var command = new Command("describe", "Show a resource in detail: metadata, spec, status per agent, conditions");
        command.Arguments.Add(kindArgument);
        command.Arguments.Add(nameArgument);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var kind = parseResult.GetValue(kindArgument)!;
            var name = parseResult.GetValue(nameArgument);
            IReadOnlyList<IMessage> items = name is not null
                ? [await kind.GetAsync(context.Client, name, cancellationToken)]
                : await kind.ListAsync(context.Client, new ListRequest(), cancellationToken);
            if (items.Count == 0)
            {
                context.Err.WriteLine($"No {kind.Plural} found.");
            }
            for (var i = 0; i < items.Count; i++)
            {
                if (i > 0)
                {
                    context.Out.WriteLine();
                }
                context.Out.Write(ResourceDescriber.Describe(kind, items[i], context.Now));
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
