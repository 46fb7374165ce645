using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Routing;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>
/// Every role against every method of the API, over the real server. The expected answers are
/// written down here, method by method, from the product contract (README, Security), and are
/// not read from <see cref="AccessPolicy"/>: a write method classified as a read fails here.
/// A method the server serves that this table does not list fails too, so a new method must be
/// given its roles here before it ships.
/// </summary>
public sealed class RoleMatrixTests : IAsyncLifetime
{
    private static readonly string[] AdminOnly = ["admin"];
    private static readonly string[] Readers = ["admin", "viewer"];
    private static readonly string[] AnyToken = ["admin", "viewer", "agent"];
    private static readonly string[] AgentsAndAdmin = ["admin", "agent"];

    /// <summary>Who may call each method (its gRPC path); every other role is refused.</summary>
    private static readonly Dictionary<string, string[]> Expected = new(StringComparer.Ordinal)
    {
        ["/lb.v1.Management/CreatePool"] = AdminOnly,
        ["/lb.v1.Management/GetPool"] = Readers,
        ["/lb.v1.Management/ListPools"] = Readers,
        ["/lb.v1.Management/UpdatePool"] = AdminOnly,
        ["/lb.v1.Management/DeletePool"] = AdminOnly,
        ["/lb.v1.Management/CreateBackend"] = AdminOnly,
        ["/lb.v1.Management/GetBackend"] = Readers,
        ["/lb.v1.Management/ListBackends"] = Readers,
        ["/lb.v1.Management/UpdateBackend"] = AdminOnly,
        ["/lb.v1.Management/DeleteBackend"] = AdminOnly,
        ["/lb.v1.Management/CreateListener"] = AdminOnly,
        ["/lb.v1.Management/GetListener"] = Readers,
        ["/lb.v1.Management/ListListeners"] = Readers,
        ["/lb.v1.Management/UpdateListener"] = AdminOnly,
        ["/lb.v1.Management/DeleteListener"] = AdminOnly,
        ["/lb.v1.Management/CreateCertificate"] = AdminOnly,
        ["/lb.v1.Management/GetCertificate"] = Readers,
        ["/lb.v1.Management/ListCertificates"] = Readers,
        ["/lb.v1.Management/UpdateCertificate"] = AdminOnly,
        ["/lb.v1.Management/DeleteCertificate"] = AdminOnly,
        // A read that hands out a decrypted private key: admin only.
        ["/lb.v1.Management/ExportCertificateKey"] = AdminOnly,
        ["/lb.v1.Management/GetAgent"] = Readers,
        // What an agent applied next to what is stored, without private keys.
        ["/lb.v1.Management/GetAgentConfig"] = Readers,
        ["/lb.v1.Management/ListAgents"] = Readers,
        ["/lb.v1.Management/DeleteAgent"] = AdminOnly,
        ["/lb.v1.Management/Apply"] = AdminOnly,
        ["/lb.v1.Management/GetStatus"] = Readers,
        ["/lb.v1.Access/CreateToken"] = AdminOnly,
        // Every token operation is the admin's, listing included.
        ["/lb.v1.Access/ListTokens"] = AdminOnly,
        ["/lb.v1.Access/RevokeToken"] = AdminOnly,
        ["/lb.v1.Access/WhoAmI"] = AnyToken,
        ["/lb.v1.Access/ListAudit"] = Readers,
        ["/lb.v1.Events/ListEvents"] = Readers,
        ["/lb.v1.Events/WatchEvents"] = Readers,
        // History reads show no private key; a rollback writes the whole configuration.
        ["/lb.v1.History/ListHistory"] = Readers,
        ["/lb.v1.History/GetRevision"] = Readers,
        ["/lb.v1.History/DiffRevisions"] = Readers,
        ["/lb.v1.History/Rollback"] = AdminOnly,
        // An agent token opens its own tier's stream (the tier check has its own tests).
        ["/lb.v1.AgentSync/Sync"] = AgentsAndAdmin,
        // Server reflection: the API's schema, for those who may read the API (an agent token may not).
        ["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"] = Readers,
        ["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"] = Readers,
    };

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private ApiServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        // An agent that came and went leaves events, so that an allowed WatchEvents answers at once.
        await SyncAsync(_server.AdminToken, "seed");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Roles() => ["none", "garbage", "admin", "viewer", "agent"];

    [Fact]
    public void Table_ListsEveryMethodTheServerServes_AndNoOther()
    {
        // The gRPC methods the real host mapped (its REST routes map onto the same methods).
        var served = ((IEndpointRouteBuilder)_server.Host.App).DataSources
            .SelectMany(source => source.Endpoints)
            .Select(endpoint => endpoint.Metadata.GetMetadata<GrpcMethodMetadata>())
            .OfType<GrpcMethodMetadata>()
            .Select(metadata => "/" + metadata.Method.FullName.TrimStart('/'))
            .ToHashSet(StringComparer.Ordinal);
        var unlisted = served.Where(m => !Expected.ContainsKey(m)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unlisted.Count == 0, $"served but missing from the role table (write down who may call them): {string.Join(", ", unlisted)}");
        var stale = Expected.Keys.Where(m => !served.Contains(m)).ToList();
        Assert.True(stale.Count == 0, $"in the role table but not served: {string.Join(", ", stale)}; served: {string.Join(", ", served)}");
    }

    [Fact]
    public void Table_ListsEveryMethodOfEveryServiceInTheProtos()
    {
        var files = new[] { ManagementReflection.Descriptor, AccessReflection.Descriptor, EventsReflection.Descriptor, HistoryReflection.Descriptor, SyncReflection.Descriptor, ResourcesReflection.Descriptor };
        var unlisted = files.SelectMany(f => f.Services).SelectMany(s => s.Methods)
            .Select(m => $"/{m.Service.FullName}/{m.Name}").Where(m => !Expected.ContainsKey(m)).ToList();
        Assert.True(unlisted.Count == 0, $"missing from the role table: {string.Join(", ", unlisted)}");
    }

    [Fact]
    public void Policy_AgreesWithTheTable_ForEveryRoleAndMethod()
    {
        var disagreements = new List<string>();
        foreach (var (method, allowed) in Expected)
        {
            if (AccessPolicy.For(method) is not { } permission)
            {
                disagreements.Add($"{method}: no policy (refused to everyone)");
                continue;
            }
            foreach (var role in new[] { ControlPlane.Access.Roles.Admin, ControlPlane.Access.Roles.Viewer, ControlPlane.Access.Roles.Agent })
            {
                if (AccessPolicy.Allows(role, permission) != allowed.Contains(role))
                {
                    disagreements.Add($"{method}: the policy ({permission}) {(allowed.Contains(role) ? "refuses" : "allows")} {role}");
                }
            }
        }
        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements));
        Assert.Null(AccessPolicy.For("/lb.v1.Management/NoSuchMethod"));
    }

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task EveryMethod_IsAllowedOrRefusedAsTheTableSays_AndRefusalsChangeNothing(string role)
    {
        var token = role switch
        {
            "none" => null,
            "garbage" => "lbt_t-000000000000_not-a-real-secret",
            "admin" => _server.AdminToken,
            _ => await _server.CreateTokenAsync(role, role == "agent" ? "edge" : ""),
        };
        var clients = new Dictionary<ServiceDescriptor, object>
        {
            [Api.V1.Management.Descriptor] = _server.Management(token),
            [Api.V1.Access.Descriptor] = _server.Access(token),
            [Api.V1.Events.Descriptor] = _server.Events(token),
            [Api.V1.History.Descriptor] = _server.History(token),
        };
        var called = new List<string>();
        var wrong = new List<string>();
        async Task CheckAsync(string path, Func<Task<StatusCode?>> call)
        {
            Assert.True(Expected.TryGetValue(path, out var allowed), $"{path} is not in the role table");
            var before = await _server.FingerprintAsync();
            var status = await call();
            StatusCode? expected = role switch
            {
                "none" or "garbage" => StatusCode.Unauthenticated,
                _ when allowed.Contains(role) => null,
                _ => StatusCode.PermissionDenied,
            };
            if (expected is { } refused)
            {
                if (status != refused)
                {
                    wrong.Add($"{role} calling {path}: expected {refused}, got {status?.ToString() ?? "OK"}");
                }
                else if (await _server.FingerprintAsync() != before)
                {
                    wrong.Add($"{role} calling {path} was refused but changed the store");
                }
            }
            else if (status is StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Internal or StatusCode.Unknown)
            {
                wrong.Add($"{role} calling {path}: expected it to be allowed, got {status}");
            }
            called.Add(path);
        }

        foreach (var (service, client) in clients)
        {
            foreach (var method in service.Methods.Where(m => !m.IsClientStreaming && !m.IsServerStreaming))
            {
                if (method.Name == "RevokeToken" && role == "admin")
                {
                    // Revoking its own token would end the test's admin session; RevokedToken_StopsAtOnce covers it.
                    continue;
                }
                await CheckAsync($"/{service.FullName}/{method.Name}", () => CallAsync(client, method));
            }
        }
        await CheckAsync("/lb.v1.Events/WatchEvents", () => WatchAsync(token));
        await CheckAsync("/lb.v1.AgentSync/Sync", () => SyncAsync(token, role));
        await CheckAsync("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", () => ReflectAsync(token));
        await CheckAsync("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", () => ReflectV1AlphaAsync(token));

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        var expectedCalls = Expected.Keys.Where(m => role != "admin" || m != "/lb.v1.Access/RevokeToken");
        Assert.Equal(expectedCalls.Order(StringComparer.Ordinal), called.Order(StringComparer.Ordinal));
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

    /// <summary>Opens WatchEvents from the first event and reads one (null for OK: the watch answered).</summary>
    private async Task<StatusCode?> WatchAsync(string? token)
    {
        try
        {
            using var call = _server.Events(token).WatchEvents(new WatchEventsRequest(), deadline: DateTime.UtcNow.Add(Timeout));
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "an allowed watch ended without an event");
            return null;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    /// <summary>
    /// A write on a call the server has already refused fails with whatever the client saw first
    /// (often Cancelled); the refusal's own status is what reading the response then throws.
    /// </summary>
    private static async Task WriteOrEndedAsync(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException)
        {
            // Read below: the response stream carries the call's real status.
        }
    }

    /// <summary>Opens the sync stream as an edge agent and waits for its first snapshot (null for OK).</summary>
    private async Task<StatusCode?> SyncAsync(string? token, string role)
    {
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var call = _server.Sync(token).Sync(cancellationToken: cts.Token);
            await WriteOrEndedAsync(call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "matrix-" + role, Tier = "edge" } }, cts.Token));
            await call.NextSnapshotAsync(cts.Token);
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
            }
            return null;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    /// <summary>Asks server reflection (v1) for the list of services and reads the answer (null for OK).</summary>
    private async Task<StatusCode?> ReflectAsync(string? token)
    {
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var call = _server.Reflection(token).ServerReflectionInfo(cancellationToken: cts.Token);
            await WriteOrEndedAsync(call.RequestStream.WriteAsync(new Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" }, cts.Token));
            await WriteOrEndedAsync(call.RequestStream.CompleteAsync());
            Assert.True(await call.ResponseStream.MoveNext(cts.Token), "an allowed reflection call ended without an answer");
            return null;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    /// <summary>The same over v1alpha.</summary>
    private async Task<StatusCode?> ReflectV1AlphaAsync(string? token)
    {
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var call = _server.ReflectionV1Alpha(token).ServerReflectionInfo(cancellationToken: cts.Token);
            await WriteOrEndedAsync(call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" }, cts.Token));
            await WriteOrEndedAsync(call.RequestStream.CompleteAsync());
            Assert.True(await call.ResponseStream.MoveNext(cts.Token), "an allowed reflection call ended without an answer");
            return null;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
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
