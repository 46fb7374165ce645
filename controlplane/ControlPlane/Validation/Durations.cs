using System.Globalization;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>
/// Parses the API's duration strings: one or more number+unit pairs ("500ms", "2s", "1m",
/// "1h30m", "1.5s"); units ms, s, m, h. Used by validation and the snapshot compiler alike.
/// </summary>
public static class Durations
{
    /// <summary>Longest duration accepted at all; individual fields have tighter limits.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(365);

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }
        double totalMs = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }
            if (i == start || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }
            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetterLower(text[i]))
            {
                i++;
            }
            double unitMs = text.AsSpan(unitStart, i - unitStart) switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => -1,
            };
            if (unitMs < 0)
            {
                return false;
            }
            totalMs += number * unitMs;
        }
        if (totalMs > Max.TotalMilliseconds)
        {
            return false;
        }
        value = TimeSpan.FromMilliseconds(Math.Round(totalMs));
        return true;
    }

    /// <summary>Milliseconds of <paramref name="text"/>, or <paramref name="fallbackMs"/> when it is empty.</summary>
    public static long ToMilliseconds(string? text, long fallbackMs)
    {
        if (string.IsNullOrEmpty(text))
        {
            return fallbackMs;
        }
        if (!TryParse(text, out var value))
        {
            throw new FormatException($"'{text}' is not a duration like 500ms, 2s, 1m or 1h30m");
        }
        return (long)value.TotalMilliseconds;
    }
}

/// <summary>Parses expected status lists like "200-399" or "200,204,300-399" (codes 100-599).</summary>
public static class StatusRanges
{
    public static bool TryParse(string? text, out IReadOnlyList<(int From, int To)> ranges)
    {
        var result = new List<(int, int)>();
        ranges = result;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 256)
        {
            return false;
        }
        foreach (var part in text.Split(','))
        {
            var item = part.Trim();
            var dash = item.IndexOf('-', StringComparison.Ordinal);
            var fromText = dash < 0 ? item : item[..dash];
            var toText = dash < 0 ? item : item[(dash + 1)..];
            if (!TryCode(fromText, out var from) || !TryCode(toText, out var to) || from > to)
            {
                return false;
            }
            result.Add((from, to));
        }
        return true;
    }

    private static bool TryCode(string text, out int code) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out code) && code is >= 100 and <= 599;
}
