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

    /// <summary>
    /// Every lb_* name a query can use on this page: each family the page declares (# TYPE, also
    /// before its first labelled series exists), a histogram's _bucket, _sum and _count included.
    /// </summary>
    public static async Task<HashSet<string>> NamesAsync(HttpClient http, string adminUrl)
    {
        var text = await http.GetStringAsync(adminUrl + "/metrics");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (TypeLine().Match(line) is { Success: true } type)
            {
                var name = type.Groups[1].Value;
                names.Add(name);
                if (type.Groups[2].Value is "histogram" or "summary")
                {
                    names.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
                }
            }
            else if (Sample().Match(line) is { Success: true } sample)
            {
                names.Add(sample.Groups[1].Value.Split('{')[0]);
            }
        }
        return names;
    }

    [GeneratedRegex(@"^# TYPE (lb_[a-z0-9_]+) ([a-z]+)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^(lb_[a-z]+_[^ ]+) ([-+0-9.eE]+|NaN)$")]
    private static partial Regex Sample();
}
