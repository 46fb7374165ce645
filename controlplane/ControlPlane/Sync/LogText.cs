using System.Text;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>Agent-supplied text made safe to store and log: bounded, and on one line.</summary>
public static class LogText
{
    /// <summary>
    /// At most <paramref name="maxChars"/> characters (then "…"), with control characters
    /// (newlines included) escaped, so one agent message can neither forge log lines nor fill storage.
    /// </summary>
    public static string Clip(string text, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(text);
        var clipped = text.Length > maxChars;
        var span = clipped ? text.AsSpan(0, maxChars) : text.AsSpan();
        if (!clipped && !HasControl(span))
        {
            return text;
        }
        var builder = new StringBuilder(span.Length + 8);
        foreach (var c in span)
        {
            switch (c)
            {
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029')
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }
                    break;
            }
        }
        if (clipped)
        {
            builder.Append('…');
        }
        return builder.ToString();
    }

    private static bool HasControl(ReadOnlySpan<char> span)
    {
        foreach (var c in span)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                return true;
            }
        }
        return false;
    }
}
