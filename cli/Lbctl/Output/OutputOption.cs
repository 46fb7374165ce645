using System.CommandLine;

namespace LoadBalancer.Cli.Output;

/// <summary>The -o/--output option of list verbs that are not resource kinds (tokens, audit).</summary>
internal static class OutputOption
{
    public const string Table = "table";
    public const string Json = "json";
    public const string Yaml = "yaml";

    public static Option<string> Create()
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = "Output format",
            DefaultValueFactory = _ => Table,
            HelpName = "FORMAT",
        };
        option.AcceptOnlyFromAmong(Table, Json, Yaml);
        return option;
    }
}
