using Google.Protobuf;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Output;

/// <summary>A list verb's output (audit, events, history, token list): JSON, YAML, or a table with a note on stderr when empty.</summary>
internal static class ListOutput
{
    public static void Write<T>(CliContext context, string? format, IReadOnlyList<T> items, string noneFound, IReadOnlyList<string> headers, Func<T, IReadOnlyList<string>> row)
        where T : IMessage
    {
        switch (format)
        {
            case OutputOption.Json:
                ResourceFormatter.WriteJson(context.Out, [.. items.Cast<IMessage>()], isList: true);
                break;
            case OutputOption.Yaml:
                ResourceFormatter.WriteYamlList(context.Out, [.. items.Cast<IMessage>()]);
                break;
            default:
                if (items.Count == 0)
                {
                    context.Err.WriteLine(noneFound);
                    break;
                }
                TableWriter.Write(context.Out, headers, items.Select(row));
                break;
        }
    }
}
