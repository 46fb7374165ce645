namespace LoadBalancer.ControlPlane;

internal sealed record CommandLineOptions(string DataDir, Uri ListenUri);

/// <summary>The two flags of lb-controlplane; anything else is a usage error (exit 2).</summary>
internal static class CommandLine
{
    public const string Usage = "usage: lb-controlplane [--data DIR] [--listen URL]\n" +
        "  --data DIR     data folder (default ./lb-data)\n" +
        "  --listen URL   gRPC endpoint, h2c for now (default http://127.0.0.1:7400)";

    public static bool TryParse(string[] args, out CommandLineOptions options)
    {
        var data = "./lb-data";
        var listen = "http://127.0.0.1:7400";
        options = new CommandLineOptions(data, new Uri(listen));
        for (var i = 0; i < args.Length; i++)
        {
            var (flag, inlineValue) = args[i].Split('=', 2) is [var f, var v] ? (f, v) : (args[i], null);
            if (flag is not ("--data" or "--listen"))
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
        options = new CommandLineOptions(data, uri);
        return true;
    }
}
