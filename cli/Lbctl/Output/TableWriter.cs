namespace LoadBalancer.Cli.Output;

/// <summary>
/// kubectl-style tables: upper-case headers, columns padded to their widest cell and
/// separated by three spaces, no borders, no wrapping. Plain text on purpose: the output is
/// identical on a terminal and in a pipe, where scripts cut and grep it.
/// </summary>
internal static class TableWriter
{
    public const string Gap = "   ";

    public static void Write(TextWriter writer, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.Prepend(headers).ToList();
        var widths = new int[headers.Count];
        foreach (var row in all)
        {
            for (var i = 0; i < headers.Count; i++)
            {
                widths[i] = Math.Max(widths[i], Cell(row, i).Length);
            }
        }

        foreach (var row in all)
        {
            var cells = Enumerable.Range(0, headers.Count)
                .Select(i => i == headers.Count - 1 ? Cell(row, i) : Cell(row, i).PadRight(widths[i]));
            writer.WriteLine(string.Join(Gap, cells).TrimEnd());
        }
    }

    // Tabs and newlines inside a cell would break the alignment of every line after it.
    private static string Cell(IReadOnlyList<string> row, int index) =>
        index < row.Count ? row[index].ReplaceLineEndings(" ").Replace('\t', ' ') : "";
}
