using System.Globalization;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Events;

/// <summary>The events table, as kubectl get events prints it.</summary>
internal static class EventTable
{
    public static readonly IReadOnlyList<string> Headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "AGENT", "COUNT", "MESSAGE"];

    /// <summary>Column widths for --watch, wide enough for typical values so that later rows line up.</summary>
    public static readonly IReadOnlyList<int> WatchWidths = [9, 7, 18, 20, 10, 5, 0];

    public static IReadOnlyList<string> Row(Event e, DateTimeOffset now) =>
    [
        Age.Since(e.LastAt ?? e.At, now),
        e.Type,
        e.Reason,
        $"{e.Kind.ToLowerInvariant()}/{e.Name}",
        e.Agent.Length == 0 ? "-" : e.Agent,
        e.Count.ToString(CultureInfo.InvariantCulture),
        e.Message,
    ];
}

/// <summary>
/// A table that grows as rows arrive (events --watch): the header and first rows set the
/// column widths, later rows are padded to them, and a wider cell widens its column from
/// then on. Lines already printed are never redrawn, so the output suits a pipe too.
/// </summary>
internal sealed class StreamingTable(TextWriter writer, IReadOnlyList<string> headers, IReadOnlyList<int> minimumWidths)
{
    private readonly int[] _widths = headers.Select((h, i) => Math.Max(h.Length, i < minimumWidths.Count ? minimumWidths[i] : 0)).ToArray();
    private bool _headerWritten;

    public void Write(IReadOnlyList<IReadOnlyList<string>> rows)
    {
        foreach (var row in rows)
        {
            for (var i = 0; i < _widths.Length - 1; i++)
            {
                _widths[i] = Math.Max(_widths[i], Cell(row, i).Length);
            }
        }
        if (!_headerWritten)
        {
            WriteLine(headers);
            _headerWritten = true;
        }
        foreach (var row in rows)
        {
            WriteLine(row);
        }
        writer.Flush();
    }

    private void WriteLine(IReadOnlyList<string> row)
    {
        var cells = Enumerable.Range(0, _widths.Length).Select(i => i == _widths.Length - 1 ? Cell(row, i) : Cell(row, i).PadRight(_widths[i]));
        writer.WriteLine(string.Join(TableWriter.Gap, cells).TrimEnd());
    }

    private static string Cell(IReadOnlyList<string> row, int index) =>
        index < row.Count ? row[index].ReplaceLineEndings(" ").Replace('\t', ' ') : "";
}
