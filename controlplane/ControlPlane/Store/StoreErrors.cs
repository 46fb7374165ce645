using Grpc.Core;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>The exact gRPC status of each store refusal; messages name the resource and never hold secrets.</summary>
public static class StoreErrors
{
    public static RpcException NotFound(ResourceKind kind, string name) =>
        new(new Status(StatusCode.NotFound, $"{kind} {name} not found"));

    public static RpcException AlreadyExists(ResourceKind kind, string name) =>
        new(new Status(StatusCode.AlreadyExists, $"{kind} {name} already exists; use update or apply"));

    public static RpcException Stale(ResourceKind kind, string name, long current, long given) =>
        new(new Status(StatusCode.Aborted,
            $"{kind} {name} was changed by someone else: its resourceVersion is {current}, the request carried {given}; read it again and retry"));

    public static RpcException InUse(ResourceKind kind, string name, string usedBy) =>
        new(new Status(StatusCode.FailedPrecondition, $"{kind} {name} cannot be deleted: {usedBy}"));
}
