using System.Globalization;
using LoadBalancer.ControlPlane.Security;

namespace LoadBalancer.ControlPlane;

internal sealed record CommandLineOptions(string DataDir, Uri ListenUri, string? BackupTo = null, Uri? AdminUri = null, bool JsonLogs = false)
{
    /// <summary>Plain HTTP (h2c) on the gRPC endpoint: only when asked for with --insecure.</summary>
    public bool Insecure { get; init; }

    /// <summary>Extra names (DNS or IP) for the serving certificate, besides localhost and loopback.</summary>
    public IReadOnlyList<string> SubjectAltNames { get; init; } = [];

    /// <summary>API calls per second per token; 0 turns the limit off.</summary>
    public int RateLimit { get; init; } = 100;

    /// <summary>How long an agent that left is kept (its row and health view); zero keeps it until deleted.</summary>
    public TimeSpan AgentExpiry { get; init; } = Sync.AgentRetention.DefaultExpiry;

    /// <summary>How much configuration history is kept (--history-revisions, --history-days).</summary>
    public History.HistoryOptions History { get; init; } = new();

    /// <summary>restore: the backup file that replaces the database (the server is not started).</summary>
    public string? RestoreFrom { get; init; }

    /// <summary>OpenTelemetry tracing, exported by OTLP as the OTEL_* environment variables say.</summary>
    public bool Otel { get; init; }
}

/// <summary>The flags of lb-controlplane; anything else is a usage error (exit 2).</summary>
internal static class CommandLine
{
    public const string Usage = "usage: lb-controlplane [--data DIR] [--listen URL] [--admin URL] [--san NAME]... [--insecure] [--otel]\n" +
        "       lb-controlplane backup [--data DIR] --to FILE\n" +
        "       lb-controlplane restore [--data DIR] --from FILE\n" +
        "       lb-controlplane --version\n" +
        "  --data DIR        data folder (default ./lb-data)\n" +
        "  --listen URL      gRPC endpoint (default https://127.0.0.1:7400); TLS with a CA made in DATA/tls\n" +
        "  --san NAME        another DNS name or IP address for the serving certificate (repeatable)\n" +
        "  --insecure        serve plain HTTP (an http:// --listen URL); for tests on one machine only\n" +
        "  --admin URL       HTTP/1.1 endpoint for /healthz, /readyz and /metrics (default: the gRPC port + 1)\n" +
        "  --rate-limit N    API calls per second per token (default 100, bursts of 2N; 0 = off)\n" +
        "  --agent-expiry D  forget an agent gone this long, with its health view (default 7d; 0 = never)\n" +
        "  --history-revisions N  keep this many configuration revisions for history and rollback (default 1000; 0 = no count limit)\n" +
        "  --history-days D  also compact revisions older than D days (default: no age limit)\n" +
        "  --log-format F    text (default) or json\n" +
        "  --otel            trace API calls and snapshot pushes with OpenTelemetry (OTLP; OTEL_EXPORTER_OTLP_ENDPOINT etc.)\n" +
        "  backup            write a consistent copy of the database to FILE, online\n" +
        "  restore           replace the database with a backup FILE (control plane stopped); agents then take the restored configuration";

    private static readonly string[] ValueFlags = ["--data", "--listen", "--to", "--from", "--admin", "--log-format", "--san", "--rate-limit", "--agent-expiry", "--history-revisions", "--history-days"];

    public static bool TryParse(string[] args, out CommandLineOptions options)
    {
        var data = "./lb-data";
        string? listen = null;
        string? backupTo = null;
        string? restoreFrom = null;
        string? admin = null;
        var logFormat = "text";
        var insecure = false;
        var otel = false;
        var rateLimit = 100;
        var agentExpiry = Sync.AgentRetention.DefaultExpiry;
        var sans = new List<string>();
        var historyRevisions = History.HistoryOptions.DefaultRevisions;
        TimeSpan? historyDays = null;
        options = new CommandLineOptions(data, new Uri("https://127.0.0.1:7400"));
        var backup = args is ["backup", ..];
        var restore = args is ["restore", ..];
        if (backup || restore)
        {
            args = args[1..];
        }
        for (var i = 0; i < args.Length; i++)
        {
            var (flag, inlineValue) = args[i].Split('=', 2) is [var f, var v] ? (f, v) : (args[i], null);
            if (flag == "--insecure" && inlineValue is null)
            {
                insecure = true;
                continue;
            }
            if (flag == "--otel" && inlineValue is null)
            {
                otel = true;
                continue;
            }
            if (!ValueFlags.Contains(flag) || (flag == "--to" && !backup) || (flag == "--from" && !restore))
            {
                Console.Error.WriteLine($"lb-controlplane: unknown argument '{args[i]}'");
                return false;
            }
            var value = inlineValue ?? (i + 1 < args.Length ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
            {
                Console.Error.WriteLine($"lb-controlplane: {flag} needs a value");
                return false;
            }
            switch (flag)
            {
                case "--data":
                    data = value;
                    break;
                case "--to":
                    backupTo = value;
                    break;
                case "--from":
                    restoreFrom = value;
                    break;
                case "--admin":
                    admin = value;
                    break;
                case "--san":
                    if (!ControlPlaneTls.IsValidName(value))
                    {
                        Console.Error.WriteLine($"lb-controlplane: --san '{value}' must be a DNS name or an IP address");
                        return false;
                    }
                    sans.Add(value);
                    break;
                case "--rate-limit":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out rateLimit) || rateLimit > 1_000_000)
                    {
                        Console.Error.WriteLine($"lb-controlplane: --rate-limit must be a whole number from 0 to 1000000, not '{value}'");
                        return false;
                    }
                    break;
                case "--agent-expiry":
                    if (value == "0")
                    {
                        agentExpiry = TimeSpan.Zero;
                    }
                    else if (!Validation.Durations.TryParse(value, out agentExpiry) || agentExpiry < TimeSpan.FromMinutes(1))
                    {
                        Console.Error.WriteLine($"lb-controlplane: --agent-expiry must be a duration from 1m to 365d (such as 12h or 7d), or 0 for never, not '{value}'");
                        return false;
                    }
                    break;
                case "--history-revisions":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out historyRevisions) || historyRevisions > 10_000_000)
                    {
                        Console.Error.WriteLine($"lb-controlplane: --history-revisions must be a whole number from 0 to 10000000, not '{value}'");
                        return false;
                    }
                    break;
                case "--history-days":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var days) || days is < 1 or > 36_500)
                    {
                        Console.Error.WriteLine($"lb-controlplane: --history-days must be a whole number of days from 1 to 36500, not '{value}'");
                        return false;
                    }
                    historyDays = TimeSpan.FromDays(days);
                    break;
                case "--log-format":
                    if (value is not ("text" or "json"))
                    {
                        Console.Error.WriteLine($"lb-controlplane: --log-format must be text or json, not '{value}'");
                        return false;
                    }
                    logFormat = value;
                    break;
                default:
                    listen = value;
                    break;
            }
        }
        listen ??= insecure ? "http://127.0.0.1:7400" : "https://127.0.0.1:7400";
        if (!Uri.TryCreate(listen, UriKind.Absolute, out var uri) || uri.Port <= 0 || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            Console.Error.WriteLine($"lb-controlplane: --listen '{listen}' must be an https:// URL with a host and port");
            return false;
        }
        if (uri.Scheme == Uri.UriSchemeHttp && !insecure && !backup && !restore)
        {
            Console.Error.WriteLine($"lb-controlplane: --listen '{listen}' is plain HTTP: use https://, or add --insecure to serve tokens and keys unencrypted");
            return false;
        }
        if (uri.Scheme == Uri.UriSchemeHttps && insecure)
        {
            Console.Error.WriteLine("lb-controlplane: --insecure serves plain HTTP: give an http:// --listen URL");
            return false;
        }
        if (backup && backupTo is null)
        {
            Console.Error.WriteLine("lb-controlplane: backup needs --to FILE");
            return false;
        }
        if (restore && restoreFrom is null)
        {
            Console.Error.WriteLine("lb-controlplane: restore needs --from FILE");
            return false;
        }
        var adminUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttp, Port = uri.Port + 1 }.Uri;
        if (admin is not null && (!Uri.TryCreate(admin, UriKind.Absolute, out adminUri) || adminUri.Scheme != Uri.UriSchemeHttp || adminUri.Port <= 0 || adminUri.Port == uri.Port))
        {
            Console.Error.WriteLine($"lb-controlplane: --admin '{admin}' must be an http:// URL with a host and a port other than --listen's");
            return false;
        }
        options = new CommandLineOptions(data, uri, backup ? backupTo : null, adminUri, logFormat == "json")
        {
            Insecure = insecure,
            SubjectAltNames = sans,
            RateLimit = rateLimit,
            AgentExpiry = agentExpiry,
            History = new History.HistoryOptions(historyRevisions, historyDays),
            RestoreFrom = restore ? restoreFrom : null,
            Otel = otel,
        };
        return true;
    }
}
