using System.Net;

namespace LoadBalancer.Agent.Config;

/// <summary>Command-line settings of one agent process.</summary>
public sealed record AgentOptions
{
    public required IReadOnlyList<Uri> ControlPlanes { get; init; }

    public required string Tier { get; init; }

    public required string Name { get; init; }

    public string? TokenFile { get; init; }

    public string? CaFile { get; init; }

    public required string CacheDirectory { get; init; }

    public required string AdminUrl { get; init; }

    public required IPAddress BindAddress { get; init; }

    public static string SoftwareVersion { get; } =
        typeof(AgentOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
