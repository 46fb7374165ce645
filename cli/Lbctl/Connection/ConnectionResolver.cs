using LoadBalancer.Cli.Cli;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// Resolves the connection. Precedence for each of server, token file and CA file:
/// flag, then environment (LBCTL_SERVER, LBCTL_TOKEN_FILE, LBCTL_CA_FILE), then the config
/// file, then the default (server https://127.0.0.1:7400, as lb-controlplane listens by default;
/// no token; system trust).
/// </summary>
internal static class ConnectionResolver
{
    public const string DefaultServer = "https://127.0.0.1:7400";

    public static string ConfigPath(CliEnvironment env) =>
        env.GetVariable("LBCTL_CONFIG") is { Length: > 0 } path
            ? Path.GetFullPath(path, env.CurrentDirectory)
            : Path.Join(env.HomeDirectory, ".config", "lbctl", "config.yaml");

    /// <summary>
    /// Resolves the settings; on first use (--server given, no config file yet) writes the
    /// config file so that later calls need no flags.
    /// </summary>
    public static ConnectionSettings Resolve(ConnectionFlags flags, CliEnvironment env, bool writeOnFirstUse = true)
    {
        var configPath = ConfigPath(env);
        var config = ClientConfig.Load(configPath);

        var server = flags.Server ?? Env(env, "LBCTL_SERVER") ?? config?.Server ?? DefaultServer;
        var tokenFile = Absolute(flags.TokenFile, env) ?? Absolute(Env(env, "LBCTL_TOKEN_FILE"), env) ?? config?.TokenFile;
        // The CA is one setting given two ways: the first source that names it (a file or a
        // fingerprint) decides, so a fingerprint flag overrides a caFile in the config file.
        var (caFile, caFingerprint) =
            Trust(Absolute(flags.CaFile, env), flags.CaFingerprint, "--ca-file and --ca-fingerprint")
            ?? Trust(Absolute(Env(env, "LBCTL_CA_FILE"), env), Env(env, "LBCTL_CA_FINGERPRINT"), "LBCTL_CA_FILE and LBCTL_CA_FINGERPRINT")
            ?? Trust(config?.CaFile, config?.CaFingerprint, $"caFile and caFingerprint in {configPath}")
            ?? (null, null);
        var settings = new ConnectionSettings(ParseServer(server), tokenFile, caFile, caFingerprint);

        if (writeOnFirstUse && flags.Server is not null && config is null)
        {
            new ClientConfig(settings.Server.OriginalString, tokenFile, caFile, caFingerprint).Save(configPath);
        }
        return settings;
    }

    private static (string? File, string? Fingerprint)? Trust(string? caFile, string? caFingerprint, string both)
    {
        if (caFile is not null && caFingerprint is not null)
        {
            throw new UsageException($"{both} both name the CA: give one of them");
        }
        if (caFingerprint is not null && CaTrust.ParseFingerprint(caFingerprint) is null)
        {
            throw new UsageException($"invalid CA fingerprint \"{caFingerprint}\": {CaTrust.FingerprintRule}");
        }
        return caFile is null && caFingerprint is null ? null : (caFile, caFingerprint);
    }

    public static Uri ParseServer(string server) =>
        Uri.TryCreate(server, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new UsageException($"invalid server URL \"{server}\": expected http://HOST:PORT or https://HOST:PORT");

    private static string? Env(CliEnvironment env, string name) => env.GetVariable(name) is { Length: > 0 } v ? v : null;

    // Stored paths are absolute: the config file is read from any working directory later.
    private static string? Absolute(string? path, CliEnvironment env) => path is null ? null : Path.GetFullPath(path, env.CurrentDirectory);
}
