namespace LoadBalancer.ControlPlane.Store;

/// <summary>Why the store refused a request; the API edge turns each into its gRPC status.</summary>
public enum StoreRefusal
{
    NotFound,
    AlreadyExists,

    /// <summary>The request carried a resourceVersion that is no longer the current one.</summary>
    StaleVersion,

    /// <summary>The request cannot be done in the resource's current state (still in use, an agent still connected).</summary>
    Precondition,
}

/// <summary>A refusal of the store; the message names the resource and never holds a secret.</summary>
public sealed class StoreException(StoreRefusal refusal, string message) : Exception(message)
{
    public StoreRefusal Refusal { get; } = refusal;
}

/// <summary>The store's refusals, worded once: their messages are what clients see.</summary>
public static class StoreErrors
{
    public static StoreException NotFound(ResourceKind kind, string name) =>
        new(StoreRefusal.NotFound, $"{kind} {name} not found");

    public static StoreException AlreadyExists(ResourceKind kind, string name) =>
        new(StoreRefusal.AlreadyExists, $"{kind} {name} already exists; use update or apply");

    public static StoreException Stale(ResourceKind kind, string name, long current, long given) =>
        new(StoreRefusal.StaleVersion,
            $"{kind} {name} was changed by someone else: its resourceVersion is {current}, the request carried {given}; read it again and retry");

    public static StoreException InUse(ResourceKind kind, string name, string usedBy) =>
        new(StoreRefusal.Precondition, $"{kind} {name} cannot be deleted: {usedBy}");

    public static StoreException AgentConnected(string name) =>
        new(StoreRefusal.Precondition, $"Agent {name} is connected; stop it before deleting it");
}
