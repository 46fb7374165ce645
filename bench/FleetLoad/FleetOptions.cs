using System.Globalization;

namespace LoadBalancer.Bench.FleetLoad;

/// <summary>What one run does; parsed from the command line.</summary>
public sealed record FleetOptions
{
    public int Streams { get; init; } = 100;

    public int Changes { get; init; } = 20;

    /// <summary>Streams multiplexed on one HTTP/2 connection; at most the control plane's MaxStreamsPerConnection (32).</summary>
    public int StreamsPerConnection { get; init; } = 32;

    public string Tier { get; init; } = "fleet";

    /// <summary>Backends in the tier's one pool; each change moves the weight of one of them.</summary>
    public int Backends { get; init; } = 2;

    /// <summary>Streams announce delta support, as lb-agent does; off: whole snapshots, as agents before deltas.</summary>
    public bool Deltas { get; init; } = true;

    /// <summary>Period of each stream's full health summary, as a real agent sends (10 s); zero sends none.</summary>
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Quiet time measured after the changes, to tell idle CPU from CPU per change.</summary>
    public TimeSpan IdleWindow { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long one change may take to reach every stream before the run fails.</summary>
    public TimeSpan ChangeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attach to a running control plane (URL, CA, admin token, pid) instead of starting one.</summary>
    public string? ControlPlaneUrl { get; init; }

    public string? CaFile { get; init; }

    public string? TokenFile { get; init; }

    public int? ControlPlanePid { get; init; }

    /// <summary>Extra arguments for a control plane the tool starts itself (e.g. --rate-limit 0).</summary>
    public IReadOnlyList<string> ControlPlaneArgs { get; init; } = [];

    public const string Usage =
        "lb-fleetload [--streams N] [--changes N] [--per-connection N] [--tier NAME] [--health-interval S] [--idle S]\n" +
        "             [--backends N] [--no-deltas]\n" +
        "             [--control-plane URL --ca-file F --token-file F --pid PID] [-- CONTROL-PLANE ARGS]\n" +
        "Opens N agent streams against a control plane (by default one it starts from the same build),\n" +
        "makes one-backend weight changes through the management API and prints what they cost.\n" +
        "Exit code 0: every stream received and ACKed every revision with the right hash; 1 otherwise; 2 usage.";

    public static FleetOptions Parse(IReadOnlyList<string> args)
    {
        var options = new FleetOptions();
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Count(int min) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min ? n : throw new ArgumentException($"{args[i - 1]} takes a whole number of at least {min}");
            TimeSpan Seconds() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0 ? TimeSpan.FromSeconds(s) : throw new ArgumentException($"{args[i - 1]} takes seconds");
            options = args[i] switch
            {
                "--streams" => options with { Streams = Count(1) },
                "--changes" => options with { Changes = Count(1) },
                "--per-connection" => options with { StreamsPerConnection = Count(1) },
                "--tier" => options with { Tier = Value() },
                "--health-interval" => options with { HealthInterval = Seconds() },
                "--idle" => options with { IdleWindow = Seconds() },
                "--no-deltas" => options with { Deltas = false },
                "--backends" => options with { Backends = Count(1) },
                "--change-timeout" => options with { ChangeTimeout = Seconds() },
                "--control-plane" => options with { ControlPlaneUrl = Value() },
                "--ca-file" => options with { CaFile = Value() },
                "--token-file" => options with { TokenFile = Value() },
                "--pid" => options with { ControlPlanePid = Count(1) },
                "--" => options with { ControlPlaneArgs = args.Skip(i + 1).ToList() },
                _ => throw new ArgumentException($"unknown argument {args[i]}"),
            };
            if (args[i] == "--")
            {
                break;
            }
        }
        if (options.ControlPlaneUrl is not null && (options.CaFile is null || options.TokenFile is null || options.ControlPlanePid is null))
        {
            throw new ArgumentException("--control-plane needs --ca-file, --token-file and --pid");
        }
        return options;
    }
}
