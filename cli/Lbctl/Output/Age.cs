using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace LoadBalancer.Cli.Output;

/// <summary>Short ages as kubectl prints them: 45s, 3m12s, 17m, 5h4m, 9h, 2d3h, 12d.</summary>
internal static class Age
{
    public const string Unknown = "<unknown>";

    public static string Since(Timestamp? timestamp, DateTimeOffset now) =>
        timestamp is null || (timestamp.Seconds == 0 && timestamp.Nanos == 0)
            ? Unknown
            : Format(now - timestamp.ToDateTimeOffset());

    public static string Format(TimeSpan age)
    {
        if (age < TimeSpan.Zero)
        {
            // Clock skew between client and server: a just-written resource, not a future one.
            age = TimeSpan.Zero;
        }
        var s = (long)age.TotalSeconds;
        return s switch
        {
            < 120 => $"{s}s",
            < 600 => $"{s / 60}m{s % 60}s",
            < 3 * 3600 => $"{s / 60}m",
            < 8 * 3600 => $"{s / 3600}h{s % 3600 / 60}m",
            < 48 * 3600 => $"{s / 3600}h",
            < 8 * 86400 => $"{s / 86400}d{s % 86400 / 3600}h",
            _ => $"{s / 86400}d",
        };
    }

    /// <summary>An absolute UTC time for describe: "2026-11-25T21:48:38Z (5m ago)", or "(in 89d)" for expiry dates.</summary>
    public static string Describe(Timestamp? timestamp, DateTimeOffset now)
    {
        if (timestamp is null || (timestamp.Seconds == 0 && timestamp.Nanos == 0))
        {
            return Unknown;
        }
        var time = timestamp.ToDateTimeOffset();
        var relative = time > now ? $"in {Format(time - now)}" : $"{Format(now - time)} ago";
        return $"{time.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} ({relative})";
    }
}
