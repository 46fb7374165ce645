using Grpc.Core;

namespace LoadBalancer.ControlPlane.Access;

public static class Roles
{
    public const string Admin = "admin";
    public const string Viewer = "viewer";
    public const string Agent = "agent";

    public static bool IsKnown(string role) => role is Admin or Viewer or Agent;
}

/// <summary>
/// Who is calling: the token the call was authenticated with. The interceptor puts it in the
/// call's user state; services and the store read it from there (audit, tier checks).
/// </summary>
public sealed record Caller(string TokenId, string Role, string Tier, DateTime? ExpiresAt, string Peer)
{
    private const string UserStateKey = "lb.caller";

    /// <summary>Changes made by the control plane itself (none today; kept for tools and tests).</summary>
    public static Caller System { get; } = new("system", Roles.Admin, "", null, "");

    public bool IsAdmin => Role == Roles.Admin;

    public static Caller Of(ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Fails closed: a service reached without the interceptor has no caller and refuses.
        return context.UserState.TryGetValue(UserStateKey, out var value) && value is Caller caller
            ? caller
            : throw new RpcException(new Status(StatusCode.Unauthenticated, "the call carries no authenticated token"));
    }

    public void AttachTo(ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.UserState[UserStateKey] = this;
    }
}
