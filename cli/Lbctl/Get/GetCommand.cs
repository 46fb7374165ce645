using System.CommandLine;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Get;

/// <summary><c>lbctl get KIND [NAME] [-o table|json|yaml|name] [-l key=value] [--field-selector field=value] [--pool NAME]</c>.</summary>
internal static class GetCommand
{
    public static Command Create(CommandRunner runner)
    {
        var kindArgument = KindArgument.Create();
        var nameArgument = NameArgument.Create<string?>("Resource name (default: all)", ArgumentArity.ZeroOrOne);
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output format",
            DefaultValueFactory = _ => "table",
            HelpName = "FORMAT",
        };
        output.AcceptOnlyFromAmong("table", "json", "yaml", "name");
        var selector = LabelSelector.CreateOption();
        var fieldSelector = FieldSelector.CreateOption();
        var pool = FieldSelector.CreatePoolOption();
        runner.Names.AddTo(nameArgument, kindArgument);
        runner.Names.AddTo(pool, ApiKinds.Pool);

        var command = new Command("get", "List resources, or show one");
        command.Arguments.Add(kindArgument);
        command.Arguments.Add(nameArgument);
        command.Options.Add(output);
        command.Options.Add(selector);
        command.Options.Add(fieldSelector);
        command.Options.Add(pool);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var kind = parseResult.GetValue(kindArgument)!;
            var name = parseResult.GetValue(nameArgument);
            var fields = FieldSelector.Parse(kind, parseResult.GetValue(fieldSelector), parseResult.GetValue(pool));
            IReadOnlyList<IMessage> items;
            string? hint = null;
            if (name is not null)
            {
                if (parseResult.GetValue(selector) is { Length: > 0 } || fields.Count > 0)
                {
                    throw new UsageException("a selector (-l, --field-selector, --pool) cannot be combined with a NAME");
                }
                items = [await kind.GetAsync(context.Client, name, cancellationToken)];
            }
            else
            {
                var request = new ListRequest();
                request.LabelSelector.Add(LabelSelector.Parse(parseResult.GetValue(selector)));
                items = (await kind.ListAsync(context.Client, request, cancellationToken))
                    .Where(i => FieldSelector.Matches(kind, i, fields))
                    .ToList();
                if (items.Count == 0 && kind.Kind == "Backend" && request.LabelSelector.TryGetValue("pool", out var poolLabel))
                {
                    // The mistake this answers: a backend's pool is its spec field, not a label.
                    hint = $"hint: -l selects on labels, and a backend's pool is a field: use --pool {poolLabel} (or --field-selector pool={poolLabel})";
                }
            }

            Print(context, kind, items, isList: name is null, parseResult.GetValue(output)!);
            if (hint is not null)
            {
                context.Err.WriteLine(hint);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    public static void Print(CliContext context, ApiKind kind, IReadOnlyList<IMessage> items, bool isList, string format)
    {
        var output = context.Out;
        switch (format)
        {
            case "json":
                ResourceFormatter.WriteJson(output, items, isList);
                break;
            case "yaml":
                ResourceFormatter.WriteYaml(output, kind, items);
                break;
            case "name":
                foreach (var item in items)
                {
                    output.WriteLine(kind.Ref(ApiKind.NameOf(item)));
                }
                break;
            default:
                if (items.Count == 0)
                {
                    // As kubectl: an empty table would be a bare header, the note goes to stderr.
                    context.Err.WriteLine($"No {kind.Plural} found.");
                    break;
                }
                TableWriter.Write(output, ResourceTables.Headers(kind), items.Select(i => ResourceTables.Row(i, context.Now)));
                break;
        }
    }
}

/// <summary>The -l/--selector option: equality on labels, "tier=edge,team=shop", repeatable.</summary>
internal static class LabelSelector
{
    public static Option<string[]> CreateOption() => new("--selector", "-l")
    {
        Description = "Label selector, key=value[,key=value] (equality only)",
        HelpName = "SELECTOR",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Dictionary<string, string> Parse(string[]? selectors)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var term in (selectors ?? []).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var parts = term.Split('=', 2);
            if (parts.Length != 2 || parts[0].Length == 0)
            {
                throw new UsageException($"invalid label selector \"{term}\": expected key=value");
            }
            labels[parts[0]] = parts[1];
        }
        return labels;
    }
}
