namespace LoadBalancer.Cli.Cli;

/// <summary>Exit codes of the contract (DESIGN.md section 5).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The server, or the CLI on the server's behalf (bad manifest, missing file), refused.</summary>
    public const int Refused = 1;
    public const int Usage = 2;
}

/// <summary>A refusal detected locally (unreadable file, not found...): printed as "error: ...", exit 1.</summary>
internal sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A command line that cannot be acted on: printed with the command's help, exit 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
