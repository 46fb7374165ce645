using Google.Protobuf.Reflection;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Access;

public enum Permission
{
    /// <summary>Any valid token (e.g. WhoAmI).</summary>
    Authenticated,

    /// <summary>admin and viewer.</summary>
    Read,

    /// <summary>admin only.</summary>
    Write,

    /// <summary>The agent sync stream: agent tokens (their tier is checked on Hello) and admin.</summary>
    Sync,
}

/// <summary>
/// What each role may call, per gRPC method. A method missing from the table is refused to
/// everyone (fail closed); a test checks that every method of every service has an entry.
/// </summary>
public static class AccessPolicy
{
    private static readonly Dictionary<string, Permission> Methods = Build();

    public static IReadOnlyDictionary<string, Permission> All => Methods;

    public static Permission? For(string method) => Methods.TryGetValue(method, out var permission) ? permission : null;

    public static bool Allows(string role, Permission permission) => (role, permission) switch
    {
        (Roles.Admin, _) => true,
        (_, Permission.Authenticated) => Roles.IsKnown(role),
        (Roles.Viewer, Permission.Read) => true,
        (Roles.Agent, Permission.Sync) => true,
        _ => false,
    };

    private static Dictionary<string, Permission> Build()
    {
        var methods = new Dictionary<string, Permission>(StringComparer.Ordinal);
        // Reads are named Get* / List*; every other management call changes something.
        foreach (var method in Api.V1.Management.Descriptor.Methods)
        {
            methods[Path(method)] = method.Name.StartsWith("Get", StringComparison.Ordinal) || method.Name.StartsWith("List", StringComparison.Ordinal)
                ? Permission.Read
                : Permission.Write;
        }
        methods[Path(Api.V1.Access.Descriptor.FindMethodByName("CreateToken"))] = Permission.Write;
        methods[Path(Api.V1.Access.Descriptor.FindMethodByName("ListTokens"))] = Permission.Write;
        methods[Path(Api.V1.Access.Descriptor.FindMethodByName("RevokeToken"))] = Permission.Write;
        methods[Path(Api.V1.Access.Descriptor.FindMethodByName("WhoAmI"))] = Permission.Authenticated;
        methods[Path(Api.V1.Access.Descriptor.FindMethodByName("ListAudit"))] = Permission.Read;
        methods[Path(AgentSync.Descriptor.FindMethodByName("Sync"))] = Permission.Sync;
        methods[Path(Api.V1.Events.Descriptor.FindMethodByName("ListEvents"))] = Permission.Read;
        methods[Path(Api.V1.Events.Descriptor.FindMethodByName("WatchEvents"))] = Permission.Read;
        methods[Path(Api.V1.History.Descriptor.FindMethodByName("ListHistory"))] = Permission.Read;
        methods[Path(Api.V1.History.Descriptor.FindMethodByName("GetRevision"))] = Permission.Read;
        methods[Path(Api.V1.History.Descriptor.FindMethodByName("DiffRevisions"))] = Permission.Read;
        methods[Path(Api.V1.History.Descriptor.FindMethodByName("Rollback"))] = Permission.Write;
        // Server reflection (both versions grpcurl may ask for): the API's schema, for the roles that read the API.
        methods[Path(Grpc.Reflection.V1.ServerReflection.Descriptor.FindMethodByName("ServerReflectionInfo"))] = Permission.Read;
        methods[Path(Grpc.Reflection.V1Alpha.ServerReflection.Descriptor.FindMethodByName("ServerReflectionInfo"))] = Permission.Read;
        return methods;
    }

    private static string Path(MethodDescriptor method) => $"/{method.Service.FullName}/{method.Name}";
}
