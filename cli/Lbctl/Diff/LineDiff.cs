namespace LoadBalancer.Cli.Diff;

/// <summary>
/// A unified-style line diff: hunks headed <c>@@ -a,b +c,d @@</c> with up to
/// <see cref="Context"/> unchanged lines around each change, lines prefixed
/// <c>' '</c>, <c>'-'</c> (old) or <c>'+'</c> (new). Manifests are small, so a plain LCS table is enough.
/// </summary>
internal static class LineDiff
{
    public const int Context = 3;

    private enum Op { Same, Removed, Added }

    /// <summary>The lines of <paramref name="text"/>, any line endings, without the final empty one.</summary>
    public static string[] SplitLines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    public static IReadOnlyList<string> Unified(IReadOnlyList<string> oldLines, IReadOnlyList<string> newLines)
    {
        var edits = Edits(oldLines, newLines);
        var output = new List<string>();
        var i = 0;
        while (i < edits.Count)
        {
            if (edits[i].Op == Op.Same)
            {
                i++;
                continue;
            }

            // A hunk: from Context lines before this change to Context lines after the last
            // change that is at most 2*Context unchanged lines away.
            var start = Math.Max(0, i - Context);
            var end = i;
            while (true)
            {
                while (end < edits.Count && edits[end].Op != Op.Same)
                {
                    end++;
                }
                var next = end;
                while (next < edits.Count && edits[next].Op == Op.Same)
                {
                    next++;
                }
                if (next < edits.Count && next - end <= 2 * Context)
                {
                    end = next;
                    continue;
                }
                end = Math.Min(edits.Count, end + Context);
                break;
            }

            var hunk = edits.Skip(start).Take(end - start).ToList();
            var oldStart = hunk.Min(e => e.OldIndex);
            var newStart = hunk.Min(e => e.NewIndex);
            var oldCount = hunk.Count(e => e.Op != Op.Added);
            var newCount = hunk.Count(e => e.Op != Op.Removed);
            output.Add($"@@ -{Range(oldStart, oldCount)} +{Range(newStart, newCount)} @@");
            foreach (var edit in hunk)
            {
                output.Add(edit.Op switch
                {
                    Op.Removed => "-" + oldLines[edit.OldIndex],
                    Op.Added => "+" + newLines[edit.NewIndex],
                    _ => " " + oldLines[edit.OldIndex],
                });
            }
            i = end;
        }
        return output;
    }

    private static string Range(int index, int count) =>
        count == 0 ? $"{index},0" : count == 1 ? $"{index + 1}" : $"{index + 1},{count}";

    /// <summary>The edit script; OldIndex/NewIndex are the positions the line has (or would have).</summary>
    private static List<(Op Op, int OldIndex, int NewIndex)> Edits(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var lcs = new int[a.Count + 1, b.Count + 1];
        for (var x = a.Count - 1; x >= 0; x--)
        {
            for (var y = b.Count - 1; y >= 0; y--)
            {
                lcs[x, y] = string.Equals(a[x], b[y], StringComparison.Ordinal)
                    ? lcs[x + 1, y + 1] + 1
                    : Math.Max(lcs[x + 1, y], lcs[x, y + 1]);
            }
        }

        var edits = new List<(Op, int, int)>();
        int i = 0, j = 0;
        while (i < a.Count || j < b.Count)
        {
            if (i < a.Count && j < b.Count && string.Equals(a[i], b[j], StringComparison.Ordinal))
            {
                edits.Add((Op.Same, i++, j++));
            }
            else if (j < b.Count && (i == a.Count || lcs[i, j + 1] >= lcs[i + 1, j]))
            {
                edits.Add((Op.Added, i, j++));
            }
            else
            {
                edits.Add((Op.Removed, i++, j));
            }
        }
        // Removals before additions within a run of changes, as diff -u prints them.
        for (var k = 0; k < edits.Count;)
        {
            if (edits[k].Item1 == Op.Same)
            {
                k++;
                continue;
            }
            var end = k;
            while (end < edits.Count && edits[end].Item1 != Op.Same)
            {
                end++;
            }
            var run = edits.GetRange(k, end - k);
            var ordered = run.Where(e => e.Item1 == Op.Removed).Concat(run.Where(e => e.Item1 == Op.Added)).ToList();
            for (var r = 0; r < ordered.Count; r++)
            {
                edits[k + r] = ordered[r];
            }
            k = end;
        }
        return edits;
    }
}
