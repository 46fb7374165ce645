namespace LoadBalancer.ControlPlane;

internal sealed record CommandLineOptions(string DataDir, Uri ListenUri, string? BackupTo = null, Uri? AdminUri = null, bool JsonLogs = false);

/// <summary>The two flags of lb-controlplane; anything else is a usage error (exit 2).</summary>
internal static class CommandLine
{
    public const string Usage = "usage: lb-controlplane [--data DIR] [--listen URL] [--admin URL]\n" +
        "       lb-controlplane backup [--data DIR] --to FILE\n" +
        "  --data DIR     data folder (default ./lb-data)\n" +
        "  --listen URL   gRPC endpoint, h2c for now (default http://127.0.0.1:7400)\n" +
        "  --admin URL    HTTP/1.1 endpoint for /healthz, /readyz and /metrics (default: the gRPC port + 1)\n" +
        "  --log-format F text (default) or json\n" +
        "  backup         write a consistent copy of the database to FILE, online";

    public static bool TryParse(string[] args, out CommandLineOptions options)
    {
        var data = "./lb-data";
        var listen = "http://127.0.0.1:7400";
        string? backupTo = null;
        string? admin = null;
        var logFormat = "text";
        options = new CommandLineOptions(data, new Uri(listen));
        var backup = args is ["backup", ..];
        if (backup)
        {
            args = args[1..];
        }
        for (var i = 0; i < args.Length; i++)
        {
            var (flag, inlineValue) = args[i].Split('=', 2) is [var f, var v] ? (f, v) : (args[i], null);
            if (flag is not ("--data" or "--listen" or "--to" or "--admin" or "--log-format") || (flag == "--to" && !backup))
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
            if (flag == "--data")
            {
                data = value;
            }
            else if (flag == "--to")
            {
                backupTo = value;
            }
            else if (flag == "--admin")
            {
                admin = value;
            }
            else if (flag == "--log-format")
            {
                if (value is not ("text" or "json"))
                {
                    Console.Error.WriteLine($"lb-controlplane: --log-format must be text or json, not '{value}'");
                    return false;
                }
                logFormat = value;
            }
            else
            {
                listen = value;
            }
        }
        if (!Uri.TryCreate(listen, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.Port <= 0)
        {
            Console.Error.WriteLine($"lb-controlplane: --listen '{listen}' must be an http:// URL with a host and port");
            return false;
        }
        if (backup && backupTo is null)
        {
            Console.Error.WriteLine("lb-controlplane: backup needs --to FILE");
            return false;
        }
        var adminUri = new UriBuilder(uri) { Port = uri.Port + 1 }.Uri;
        if (admin is not null && (!Uri.TryCreate(admin, UriKind.Absolute, out adminUri) || adminUri.Scheme != Uri.UriSchemeHttp || adminUri.Port <= 0 || adminUri.Port == uri.Port))
        {
            Console.Error.WriteLine($"lb-controlplane: --admin '{admin}' must be an http:// URL with a host and a port other than --listen's");
            return false;
        }
        options = new CommandLineOptions(data, uri, backup ? backupTo : null, adminUri, logFormat == "json");
        return true;
    }
}
