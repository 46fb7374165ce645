namespace LoadBalancer.Cli.Cli;

/// <summary>Exit codes of the contract (DESIGN.md section 5).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The server refused (or a resource named on the command line does not exist).</summary>
    public const int Refused = 1;
    /// <summary>
    /// The command line, or the input it names, cannot be acted on: a usage error, or a problem in
    /// one's own file found before anything was sent (missing or unreadable file, bad YAML, an
    /// unknown field). The same for every verb, diff included.
    /// </summary>
    public const int Usage = 2;
}

/// <summary>A file given on the command line cannot be read or used: printed as "error: ...", exit 2.</summary>
internal sealed class InputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A refusal detected locally (unreadable file, not found...): printed as "error: ...", exit 1.</summary>
internal sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A command line that cannot be acted on: printed with the command's help, exit 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
