namespace LoadBalancer.ControlPlane.Events;

/// <summary>An event about to be recorded; the recorder adds the id, times and count.</summary>
public sealed record EventDraft(string Type, string Reason, string Kind, string Name, string Agent, string Message)
{
    public static EventDraft Normal(string reason, string kind, string name, string agent, string message) =>
        new(EventTypes.Normal, reason, kind, name, agent, message);

    public static EventDraft Warning(string reason, string kind, string name, string agent, string message) =>
        new(EventTypes.Warning, reason, kind, name, agent, message);
}

public static class EventTypes
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
}

/// <summary>The kinds of object an event is about.</summary>
public static class EventKinds
{
    public const string Backend = "Backend";
    public const string Listener = "Listener";
    public const string Certificate = "Certificate";
    public const string Agent = "Agent";
    public const string Pool = "Pool";

    public static readonly IReadOnlyList<string> All = [Backend, Listener, Certificate, Agent, Pool];
}

/// <summary>Reasons, CamelCase as Kubernetes writes them; clients may match on them.</summary>
public static class EventReasons
{
    public const string BackendUnhealthy = "BackendUnhealthy";
    public const string BackendHealthy = "BackendHealthy";
    public const string ListenerFailed = "ListenerFailed";
    public const string ListenerProgrammed = "ListenerProgrammed";
    public const string SnapshotRejected = "SnapshotRejected";
    public const string CertificateRotated = "CertificateRotated";
    public const string AgentConnected = "AgentConnected";
    public const string AgentLost = "AgentLost";
    public const string AgentDisconnected = "AgentDisconnected";
    public const string DrainFinished = "DrainFinished";
    public const string FailOpen = "FailOpen";
    public const string FailOpenEnded = "FailOpenEnded";
}

/// <summary>How many events are kept, for how long, and over what window repeats fold into one.</summary>
public sealed record EventOptions
{
    public int MaxCount { get; init; } = 2_000;
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>An identical event recorded again within this window raises the count of the first (as Kubernetes does).</summary>
    public TimeSpan FoldWindow { get; init; } = TimeSpan.FromMinutes(10);
}
