using System.Globalization;
using System.Text.RegularExpressions;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>Reads a Prometheus text page into series => value, for the lb_* series only.</summary>
public static partial class MetricsScrape
{
    public static async Task<Dictionary<string, double>> ReadAsync(HttpClient http, string adminUrl)
    {
        var text = await http.GetStringAsync(adminUrl + "/metrics");
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var match = Sample().Match(line);
            if (match.Success)
            {
                values[match.Groups[1].Value] = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            }
        }
        return values;
    }

    [GeneratedRegex(@"^(lb_[a-z]+_[^ ]+) ([-+0-9.eE]+|NaN)$")]
    private static partial Regex Sample();
}
