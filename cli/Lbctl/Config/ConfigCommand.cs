using System.CommandLine;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Cli.Config;

/// <summary>
/// <c>lbctl config view | set-server URL | set-token-file FILE | set-ca-file FILE | set-ca-fingerprint SHA256</c>:
/// the config file that lets later calls omit the connection flags.
/// </summary>
internal static class ConfigCommand
{
    public static Command Create(CommandRunner runner)
    {
        var command = new Command("config", "Show or change the lbctl config file");

        var view = new Command("view", "Show the config file and the connection settings in effect");
        runner.SetAction(view, (parseResult, context, _) =>
        {
            var env = context.Environment;
            var path = ConnectionResolver.ConfigPath(env);
            var config = ClientConfig.Load(path);
            // Viewing must not change anything: no first-use write here.
            var effective = ConnectionResolver.Resolve(context.Flags, env, writeOnFirstUse: false);
            context.Out.WriteLine($"config file:  {path}{(config is null ? " (not written yet)" : "")}");
            context.Out.WriteLine($"server:       {effective.Server.OriginalString}");
            context.Out.WriteLine($"tokenFile:    {effective.TokenFile ?? "<none>"}");
            if (effective.CaFingerprint is not null)
            {
                context.Out.WriteLine($"caFingerprint: {effective.CaFingerprint}");
            }
            else
            {
                context.Out.WriteLine($"caFile:       {effective.CaFile ?? "<none>"}");
            }
            return Task.FromResult(ExitCodes.Success);
        });
        command.Subcommands.Add(view);

        command.Subcommands.Add(SetCommand(runner, "set-server", "URL", "Set the control plane URL",
            (config, value, _) => config with { Server = ConnectionResolver.ParseServer(value).OriginalString }));
        command.Subcommands.Add(SetCommand(runner, "set-token-file", "FILE", "Set the bearer token file",
            (config, value, env) => config with { TokenFile = Path.GetFullPath(value, env.CurrentDirectory) }));
        command.Subcommands.Add(SetCommand(runner, "set-ca-file", "FILE", "Set the CA certificate file (PEM) to pin",
            (config, value, env) => config with { CaFile = Path.GetFullPath(value, env.CurrentDirectory), CaFingerprint = null }));
        command.Subcommands.Add(SetCommand(runner, "set-ca-fingerprint", "SHA256", "Set the SHA-256 of the CA to pin, as lb-controlplane prints it at start (replaces caFile)",
            (config, value, _) => CaTrust.ParseFingerprint(value) is null
                ? throw new UsageException($"invalid CA fingerprint \"{value}\": {CaTrust.FingerprintRule}")
                : config with { CaFingerprint = value.Trim(), CaFile = null }));
        return command;
    }

    private static Command SetCommand(CommandRunner runner, string name, string valueName, string description, Func<ClientConfig, string, CliEnvironment, ClientConfig> change)
    {
        var value = new Argument<string>(valueName) { Description = description };
        var command = new Command(name, description);
        command.Arguments.Add(value);
        runner.SetAction(command, (parseResult, context, _) =>
        {
            var path = ConnectionResolver.ConfigPath(context.Environment);
            var config = ClientConfig.Load(path) ?? new ClientConfig(null, null, null);
            change(config, parseResult.GetValue(value)!, context.Environment).Save(path);
            context.Out.WriteLine($"{path} updated");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
