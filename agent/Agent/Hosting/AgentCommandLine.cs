using System.CommandLine;
using System.Net;
using LoadBalancer.Agent.Config;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Agent.Hosting;

/// <summary>
/// lb-agent --control-plane URL[,URL...] --tier NAME [--name NAME] [--token-file F] [--ca-file F | --ca-fingerprint SHA256]
/// [--cache DIR] [--cache-key-file F] [--admin URL] [--bind ADDRESS] [--otel]
/// </summary>
internal static class AgentCommandLine
{
    public static (AgentOptions? Options, int ExitCode) Parse(string[] args)
    {
        var controlPlane = new Option<string[]>("--control-plane")
        {
            Description = "Control plane URL; repeat it or separate with commas to give several, tried in turn",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var tier = new Option<string>("--tier") { Description = "Tier this agent serves (edge, internal, data, ...)", Required = true };
        var name = new Option<string?>("--name") { Description = "Agent name (default: HOST-TIER)" };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the agent's bearer token" };
        var caFile = new Option<string?>("--ca-file") { Description = "CA certificate (PEM) that the control plane's certificate must chain to" };
        var caFingerprint = new Option<string?>("--ca-fingerprint") { Description = "Instead of --ca-file: the SHA-256 of the control plane's CA, as lb-controlplane prints it at start" };
        var cache = new Option<string?>("--cache") { Description = "Folder for the last-known-good snapshot (default: ./lb-agent-cache/NAME)" };
        var cacheKey = new Option<string?>("--cache-key-file") { Description = "File with the key that seals the cache, made on first use; outside the cache folder (default: the cache folder's path + .key)" };
        var admin = new Option<string>("--admin") { Description = "URL of the admin endpoint (/healthz, /readyz, /config)", DefaultValueFactory = _ => "http://127.0.0.1:9900" };
        var bind = new Option<string>("--bind") { Description = "Address the listeners open on", DefaultValueFactory = _ => "0.0.0.0" };
        var accessLog = new Option<bool>("--access-log") { Description = "Log one line per request: listener, pool, backend, status and timing" };
        var fastPath = new Option<string>("--http-fast-path") { Description = "on: common HTTP/1.1 requests are forwarded by the agent's own path; off: all by YARP", DefaultValueFactory = _ => "on" };
        fastPath.AcceptOnlyFromAmong("on", "off");
        var tcpRelay = new Option<string>("--tcp-relay") { Description = "epoll: tcp listeners relay on the agent's own epoll loops (Linux); sockets: on the runtime's sockets", DefaultValueFactory = _ => "epoll" };
        tcpRelay.AcceptOnlyFromAmong("epoll", "sockets");
        var logFormat = new Option<string>("--log-format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var otel = new Option<bool>("--otel") { Description = "Trace proxied requests with OpenTelemetry, exported by OTLP as the OTEL_* environment variables say (OTEL_EXPORTER_OTLP_ENDPOINT, ...)" };

        var root = new RootCommand("lb-agent: the load-balancing proxy of one tier")
        {
            controlPlane, tier, name, tokenFile, caFile, caFingerprint, cache, cacheKey, admin, bind, accessLog, fastPath, tcpRelay, logFormat, otel,
        };
        var result = root.Parse(args);
        if (result.Errors.Count > 0 || result.Action is not null && result.Tokens.Any(t => t.Value is "--help" or "-h" or "-?"))
        {
            if (result.Errors.Count == 0)
            {
                result.Invoke();
                return (null, 0);
            }
            foreach (var error in result.Errors)
            {
                Console.Error.WriteLine("lb-agent: " + error.Message);
            }
            Console.Error.WriteLine("Run lb-agent --help for usage.");
            return (null, 2);
        }

        var urls = new List<Uri>();
        foreach (var value in result.GetValue(controlPlane)!.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                Console.Error.WriteLine($"lb-agent: --control-plane: '{value}' is not an http(s) URL");
                return (null, 2);
            }
            urls.Add(uri);
        }

        var tierValue = result.GetValue(tier)!.Trim().ToLowerInvariant();
        if (!IsDnsLabel(tierValue))
        {
            Console.Error.WriteLine($"lb-agent: --tier: '{tierValue}' must be a DNS label (lowercase letters, digits, '-')");
            return (null, 2);
        }
        if (!IPAddress.TryParse(result.GetValue(bind), out var bindAddress))
        {
            Console.Error.WriteLine($"lb-agent: --bind: '{result.GetValue(bind)}' is not an IP address");
            return (null, 2);
        }

        byte[]? fingerprint = null;
        if (result.GetValue(caFingerprint) is { } fingerprintText)
        {
            if (result.GetValue(caFile) is not null)
            {
                Console.Error.WriteLine("lb-agent: --ca-file and --ca-fingerprint both name the CA: give one of them");
                return (null, 2);
            }
            fingerprint = CaTrust.ParseFingerprint(fingerprintText);
            if (fingerprint is null)
            {
                Console.Error.WriteLine($"lb-agent: --ca-fingerprint: '{fingerprintText}': {CaTrust.FingerprintRule}");
                return (null, 2);
            }
        }

        var nameValue = result.GetValue(name) ?? $"{Environment.MachineName.ToLowerInvariant()}-{tierValue}";
        var cacheValue = result.GetValue(cache) ?? Path.Combine("lb-agent-cache", nameValue);
        var cacheKeyValue = result.GetValue(cacheKey);
        if (cacheKeyValue is not null && Cache.CacheKeyFile.IsInside(cacheKeyValue, cacheValue))
        {
            Console.Error.WriteLine($"lb-agent: --cache-key-file: '{cacheKeyValue}' is inside the cache folder '{cacheValue}': a copy of the folder would carry the key that opens it");
            return (null, 2);
        }
        return (new AgentOptions
        {
            ControlPlanes = urls,
            Tier = tierValue,
            Name = nameValue,
            TokenFile = result.GetValue(tokenFile),
            CaFile = result.GetValue(caFile),
            CaFingerprint = fingerprint,
            CacheDirectory = cacheValue,
            CacheKeyFile = cacheKeyValue,
            AdminUrl = result.GetValue(admin)!,
            BindAddress = bindAddress,
            AccessLog = result.GetValue(accessLog),
            JsonLogs = result.GetValue(logFormat) == "json",
            HttpFastPath = result.GetValue(fastPath) == "on",
            TcpRelay = result.GetValue(tcpRelay) == "sockets" ? Tcp.Epoll.TcpRelayKind.Sockets : Tcp.Epoll.TcpRelayKind.Epoll,
            Otel = result.GetValue(otel),
        }, 0);
    }

    private static bool IsDnsLabel(string value) =>
        value.Length is > 0 and <= 63
        && value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
        && value[0] != '-' && value[^1] != '-';
}
