using System.CommandLine;
using Grpc.Core;
using LoadBalancer.Cli.Completion;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// Runs a verb's body with a <see cref="CliContext"/> and turns every failure into its
/// message and exit code, so that verbs only describe the happy path.
/// </summary>
internal sealed class CommandRunner(CliEnvironment environment, GlobalOptions globals, Func<IReadOnlyList<string>, int> printHelp)
{
    public CliEnvironment Environment => environment;

    /// <summary>Completion of resource names from the server, for the verbs' NAME arguments.</summary>
    public ResourceNameCompletion Names { get; } = new(environment, globals);

    /// <param name="errorExitCode">
    /// The exit code of a refusal (server error, bad manifest, unreadable file) for a verb that
    /// gives 1 another meaning (diff: 1 means differences); null keeps the contract's codes.
    /// </param>
    public void SetAction(Command command, Func<ParseResult, CliContext, CancellationToken, Task<int>> body, int? errorExitCode = null) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var (exitCode, failed) = await RunAsync(parseResult, body, cancellationToken);
            return failed && errorExitCode is { } code ? code : exitCode;
        });

    private async Task<(int ExitCode, bool Failed)> RunAsync(ParseResult parseResult, Func<ParseResult, CliContext, CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
        using var context = new CliContext(environment, globals.Read(parseResult));
        var err = environment.Err;
        try
        {
            return (await body(parseResult, context, cancellationToken), false);
        }
        catch (RpcException ex)
        {
            var server = context.ResolvedSettings?.Server ?? new Uri(ConnectionResolver.DefaultServer);
            return (ErrorPrinter.PrintRpcError(ex, err, server, context.CertificateRejection), true);
        }
        catch (Exception ex) when (ex is ManifestException or InputException)
        {
            // A problem in the user's own input, found before anything was sent.
            err.WriteLine($"error: {ex.Message}");
            return (ExitCodes.Usage, true);
        }
        catch (CliException ex)
        {
            err.WriteLine($"error: {ex.Message}");
            return (ExitCodes.Refused, true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file or folder the verb had to read (not a manifest document): name it, no stack trace.
            err.WriteLine($"error: {ex.Message}");
            return (ExitCodes.Usage, true);
        }
        catch (UsageException ex)
        {
            err.WriteLine($"error: {ex.Message}");
            err.WriteLine();
            printHelp(CommandPath(parseResult));
            return (ExitCodes.Usage, true);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            err.WriteLine("interrupted");
            return (130, false);
        }
    }

    private static List<string> CommandPath(ParseResult parseResult)
    {
        var path = new List<string>();
        for (var result = parseResult.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            if (result.Parent is not null)
            {
                path.Insert(0, result.Command.Name);
            }
        }
        return path;
    }
}

/// <summary>The connection flags, valid before or after the verb.</summary>
internal sealed class GlobalOptions
{
    public Option<string?> Server { get; } = new("--server", "-s")
    {
        Description = "Control plane URL (default: LBCTL_SERVER, the config file, then https://127.0.0.1:7400)",
        Recursive = true,
        HelpName = "URL",
    };

    public Option<string?> TokenFile { get; } = new("--token-file")
    {
        Description = "File holding the bearer token sent with every call",
        Recursive = true,
        HelpName = "FILE",
    };

    public Option<string?> CaFile { get; } = new("--ca-file")
    {
        Description = "PEM CA certificate the https server must chain to (the control plane's DATA/tls/ca.crt); unused for http",
        Recursive = true,
        HelpName = "FILE",
    };

    public Option<string?> CaFingerprint { get; } = new("--ca-fingerprint")
    {
        Description = "SHA-256 of the control plane's CA, as lb-controlplane prints it at start (instead of --ca-file)",
        Recursive = true,
        HelpName = "SHA256",
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(Server);
        root.Options.Add(TokenFile);
        root.Options.Add(CaFile);
        root.Options.Add(CaFingerprint);
    }

    public ConnectionFlags Read(ParseResult parseResult) =>
        new(parseResult.GetValue(Server), parseResult.GetValue(TokenFile), parseResult.GetValue(CaFile), parseResult.GetValue(CaFingerprint));
}
