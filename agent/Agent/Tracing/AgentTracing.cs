using System.Diagnostics;

namespace LoadBalancer.Agent.Tracing;

/// <summary>
/// The agent's one source of spans. Nothing listens to it unless the agent runs with --otel
/// (<see cref="TracingServiceExtensions.AddAgentTracing"/>): then <see cref="Enabled"/> is false
/// and the request paths skip every tracing step after that one check.
/// </summary>
internal static class AgentTracing
{
    public const string SourceName = "LoadBalancer.Agent";

    public static readonly ActivitySource Source = new(SourceName, Config.AgentOptions.SoftwareVersion);

    /// <summary>True when a tracer listens (the agent runs with --otel).</summary>
    public static bool Enabled => Source.HasListeners();
}
