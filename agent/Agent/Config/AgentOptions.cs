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

    /// <summary>SHA-256 of the control plane's CA (instead of <see cref="CaFile"/>): the CA fetched from the control plane must have it.</summary>
    public byte[]? CaFingerprint { get; init; }

    public required string CacheDirectory { get; init; }

    /// <summary>
    /// The file with the key that seals the cache; null for CACHE.key beside the cache folder.
    /// Outside the cache folder, so that a copy of the folder alone cannot be opened.
    /// </summary>
    public string? CacheKeyFile { get; init; }

    public required string AdminUrl { get; init; }

    public required IPAddress BindAddress { get; init; }

    /// <summary>One line per forwarded request: listener, pool, backend, status, timing.</summary>
    public bool AccessLog { get; init; }

    /// <summary>JSON log lines (one object per line) instead of text.</summary>
    public bool JsonLogs { get; init; }

    /// <summary>
    /// The HTTP/1.1 fast path in front of Kestrel and YARP (on by default); off, every request
    /// takes the YARP path (to compare the two, or to rule the fast path out).
    /// </summary>
    public bool HttpFastPath { get; init; } = true;

    /// <summary>
    /// How tcp listeners relay: the agent's own epoll loops (the default, on Linux) or the
    /// runtime's sockets (to compare the two, or to rule the loops out).
    /// </summary>
    public Tcp.Epoll.TcpRelayKind TcpRelay { get; init; } = Tcp.Epoll.TcpRelayKind.Epoll;

    /// <summary>
    /// OpenTelemetry tracing (--otel), configured by the standard OTEL_* variables; off, no
    /// tracer exists and the request paths create no Activity.
    /// </summary>
    public bool Otel { get; init; }

    public static string SoftwareVersion { get; } =
        typeof(AgentOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
