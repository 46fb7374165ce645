using System.Globalization;

namespace LoadBalancer.Bench.FleetLoad;

/// <summary>What one run measured, and the table it prints.</summary>
public sealed class FleetReport
{
    public int Streams { get; init; }

    public bool Deltas { get; init; }

    public int Backends { get; init; }

    public int Changes { get; init; }

    public int StreamsPerConnection { get; init; }

    public TimeSpan FirstSnapshotAll { get; set; }

    /// <summary>Stream opens refused before every stream had its first snapshot, by status.</summary>
    public IReadOnlyDictionary<string, int> Refusals { get; set; } = new Dictionary<string, int>();

    /// <summary>Accepted streams lost during the run, by status.</summary>
    public IReadOnlyDictionary<string, int> Lost { get; set; } = new Dictionary<string, int>();

    public double RssPerStream { get; set; }

    public TimeSpan IdleCpuPerSecond { get; set; }

    /// <summary>Control-plane CPU over the measured changes, and how long they took.</summary>
    public TimeSpan ChangesCpu { get; set; }

    public TimeSpan ChangesElapsed { get; set; }

    public TimeSpan CpuPerChange { get; set; }

    /// <summary>CPU per change less the idle rate over the same time: what the change itself cost.</summary>
    public TimeSpan CpuPerChangeNet { get; set; }

    public double BytesReceivedPerAgentPerChange { get; set; }

    public double BytesSentPerAgentPerChange { get; set; }

    /// <summary>Write answered -> one stream's ACK sent, for every stream and change.</summary>
    public IReadOnlyList<double> PerAgentAckMs { get; set; } = [];

    /// <summary>Write answered -> the last stream's ACK sent, per change.</summary>
    public IReadOnlyList<double> AllAckedMs { get; set; } = [];

    /// <summary>After the last change reached every stream: until the control plane's status counted them all in sync.</summary>
    public TimeSpan StatusInSync { get; set; }

    public long LastRevision { get; set; }

    public IReadOnlyList<string> Errors { get; set; } = [];

    public bool Passed => Errors.Count == 0;

    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToList();
        // Nearest rank.
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static string Counts(IReadOnlyDictionary<string, int> counts) =>
        counts.Count == 0 ? "0" : $"{counts.Values.Sum()} ({string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value}"))})";

    public void Print(TextWriter output)
    {
        var rows = new List<(string, string)>
        {
            ("streams (per HTTP/2 connection)", $"{Streams} ({StreamsPerConnection})"),
            ("streams accept deltas", Deltas ? "yes" : "no (whole snapshots)"),
            ("backends in the pool", $"{Backends}"),
            ("time to first snapshot, all streams", $"{FirstSnapshotAll.TotalSeconds:0.00} s"),
            ("stream opens refused (retried with backoff)", Counts(Refusals)),
            ("streams lost after acceptance (resumed)", Counts(Lost)),
            ("control-plane RSS per stream", $"{RssPerStream / 1024:0.0} KB"),
            ("control-plane idle CPU (keep-alives, health summaries)", $"{IdleCpuPerSecond.TotalMilliseconds:0} ms/s"),
            ("changes", $"{Changes}"),
            ("write -> one agent ACKed, p50 / p99", $"{Percentile(PerAgentAckMs, 50):0.0} / {Percentile(PerAgentAckMs, 99):0.0} ms"),
            ("write -> all agents ACKed, p50 / p99 / max", $"{Percentile(AllAckedMs, 50):0.0} / {Percentile(AllAckedMs, 99):0.0} / {Percentile(AllAckedMs, 100):0.0} ms"),
            ("last write -> status shows all in sync", $"{StatusInSync.TotalMilliseconds:0} ms after all ACKed"),
            ("bytes on the wire per agent per change, in / out", $"{BytesReceivedPerAgentPerChange:0} / {BytesSentPerAgentPerChange:0} B"),
            ("control-plane CPU per change (less idle)", $"{CpuPerChange.TotalMilliseconds:0} ms ({CpuPerChangeNet.TotalMilliseconds:0} ms)"),
            ("verdict", Passed ? "PASS: every stream ACKed every revision with the right hash" : $"FAIL: {Errors.Count} errors"),
        };
        var width = rows.Max(r => r.Item1.Length);
        output.WriteLine();
        output.WriteLine($"| {"measure".PadRight(width)} | value |");
        output.WriteLine($"|{new string('-', width + 2)}|---:|");
        foreach (var (name, value) in rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name.PadRight(width)} | {value} |"));
        }
        foreach (var error in Errors)
        {
            output.WriteLine("error: " + error);
        }
    }
}
