using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>Every role against every unary method of the API, over the real server.</summary>
public sealed class RoleMatrixTests : IAsyncLifetime
{
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Roles() => ["none", "garbage", "admin", "viewer", "agent"];

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task EveryUnaryMethod_IsAllowedOrRefusedByRole_AndRefusalsChangeNothing(string role)
    {
        var token = role switch
        {
            "none" => null,
            "garbage" => "lbt_t-000000000000_not-a-real-secret",
            "admin" => _server.AdminToken,
            _ => await _server.CreateTokenAsync(role, role == "agent" ? "edge" : ""),
        };
        var invokers = new Dictionary<ServiceDescriptor, object>
        {
            [Api.V1.Management.Descriptor] = _server.Management(token),
            [Api.V1.Access.Descriptor] = _server.Access(token),
            [Api.V1.Events.Descriptor] = _server.Events(token),
        };
        var checkedMethods = 0;
        foreach (var (service, client) in invokers)
        {
            foreach (var method in service.Methods.Where(m => !m.IsClientStreaming && !m.IsServerStreaming))
            {
                if (method.Name == "RevokeToken" && role == "admin")
                {
                    // Revoking its own token would end the test's admin session; covered below.
                    continue;
                }
                var before = await _server.FingerprintAsync();
                var status = await CallAsync(client, method);
                var path = $"/{service.FullName}/{method.Name}";
                var permission = AccessPolicy.For(path);
                Assert.NotNull(permission);
                var expected = role switch
                {
                    "none" or "garbage" => StatusCode.Unauthenticated,
                    _ when AccessPolicy.Allows(role, permission.Value) => (StatusCode?)null,
                    _ => StatusCode.PermissionDenied,
                };
                if (expected is { } refused)
                {
                    Assert.True(status == refused, $"{role} calling {path}: expected {refused}, got {status}");
                    Assert.Equal(before, await _server.FingerprintAsync());
                }
                else
                {
                    Assert.True(status is not (StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Internal or StatusCode.Unknown),
                        $"{role} calling {path} was refused or failed: {status}");
                }
                checkedMethods++;
            }
        }
        Assert.True(checkedMethods >= 29, $"only {checkedMethods} methods checked");
    }

    [Fact]
    public void Policy_ViewerReadsOnly_AgentOnlySyncs_AdminEverything()
    {
        Assert.True(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Viewer, AccessPolicy.For("/lb.v1.Management/ListPools")!.Value));
        Assert.False(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Viewer, AccessPolicy.For("/lb.v1.Management/Apply")!.Value));
        Assert.False(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Viewer, AccessPolicy.For("/lb.v1.Access/CreateToken")!.Value));
        Assert.False(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Viewer, AccessPolicy.For("/lb.v1.AgentSync/Sync")!.Value));
        Assert.False(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Agent, AccessPolicy.For("/lb.v1.Management/GetPool")!.Value));
        Assert.True(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Agent, AccessPolicy.For("/lb.v1.AgentSync/Sync")!.Value));
        Assert.True(AccessPolicy.Allows(LoadBalancer.ControlPlane.Access.Roles.Admin, AccessPolicy.For("/lb.v1.Access/RevokeToken")!.Value));
        Assert.Null(AccessPolicy.For("/lb.v1.Management/NoSuchMethod"));
    }

    [Fact]
    public void Policy_CoversEveryMethodOfEveryService()
    {
        foreach (var service in new[] { Api.V1.Management.Descriptor, Api.V1.Access.Descriptor, AgentSync.Descriptor, Api.V1.Events.Descriptor })
        {
            foreach (var method in service.Methods)
            {
                Assert.True(AccessPolicy.For($"/{service.FullName}/{method.Name}") is not null, $"{service.FullName}/{method.Name} has no policy");
            }
        }
    }

    [Fact]
    public async Task RevokedToken_StopsAtOnce()
    {
        var viewer = await _server.CreateTokenAsync("viewer");
        var client = _server.Management(viewer);
        await client.ListPoolsAsync(new ListRequest());
        var id = (await _server.Access(viewer).WhoAmIAsync(new WhoAmIRequest())).Id;
        await _server.Access(_server.AdminToken).RevokeTokenAsync(new RevokeTokenRequest { Id = id });
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await client.ListPoolsAsync(new ListRequest()));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Contains("revoked", refused.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>Calls <paramref name="method"/> with an empty request and returns the status (null for OK).</summary>
    private static async Task<StatusCode?> CallAsync(object client, MethodDescriptor method)
    {
        var call = client.GetType().GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Single(m => m.Name == method.Name + "Async" && m.GetParameters() is [var p, ..] && p.ParameterType == method.InputType.ClrType && m.GetParameters().Length == 4);
        var request = (IMessage)Activator.CreateInstance(method.InputType.ClrType)!;
        try
        {
            var response = call.Invoke(client, [request, null, DateTime.UtcNow.AddSeconds(10), CancellationToken.None])!;
            var task = (Task)response.GetType().GetProperty("ResponseAsync")!.GetValue(response)!;
            await task;
            return null;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }
}
