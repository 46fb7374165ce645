namespace LoadBalancer.Cli.Connection;

/// <summary>The resolved connection: where to call, with which token and CA (a file, or a fingerprint; never both).</summary>
internal sealed record ConnectionSettings(Uri Server, string? TokenFile, string? CaFile, string? CaFingerprint = null);

/// <summary>The global flags as given on the command line (null when absent).</summary>
internal sealed record ConnectionFlags(string? Server, string? TokenFile, string? CaFile, string? CaFingerprint = null);
