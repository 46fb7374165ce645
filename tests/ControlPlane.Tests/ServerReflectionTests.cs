using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Reflection.V1;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests;

/// <summary>
/// gRPC server reflection on the real control plane, through a real reflection client (the
/// protocol grpcurl speaks): refused without a valid token like every other call, and with
/// one it lists and describes the API.
/// </summary>
public sealed class ServerReflectionTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(null, StatusCode.Unauthenticated)]
    [InlineData("lbt_t-000000000000_not-a-real-secret", StatusCode.Unauthenticated)]
    public async Task ListServices_WithoutAValidToken_IsRefused(string? token, StatusCode expected)
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => AskAsync(token, new ServerReflectionRequest { ListServices = "" }));

        Assert.Equal(expected, refused.StatusCode);
    }

    [Fact]
    public async Task ListServices_WithAnAgentToken_IsRefused()
    {
        var agent = await _server.CreateTokenAsync("agent", "edge");

        var refused = await Assert.ThrowsAsync<RpcException>(() => AskAsync(agent, new ServerReflectionRequest { ListServices = "" }));

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("viewer")]
    public async Task ListServices_WithAReadersToken_ListsTheApi(string role)
    {
        var token = role == "admin" ? _server.AdminToken : await _server.CreateTokenAsync(role);

        var response = await AskAsync(token, new ServerReflectionRequest { ListServices = "" });

        var services = response.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("lb.v1.Management", services);
        Assert.Contains("lb.v1.Access", services);
        Assert.Contains("lb.v1.Events", services);
        Assert.Contains("lb.v1.AgentSync", services);
        Assert.Contains("grpc.reflection.v1.ServerReflection", services);
    }

    [Fact]
    public async Task FileContainingSymbol_DescribesAMethod_AsGrpcurlDescribeDoes()
    {
        var response = await AskAsync(_server.AdminToken, new ServerReflectionRequest { FileContainingSymbol = "lb.v1.Management" });

        // The file that defines the service comes first, then what it imports.
        var files = response.FileDescriptorResponse.FileDescriptorProto
            .Select(bytes => FileDescriptorProto.Parser.ParseFrom(bytes))
            .ToList();
        var management = Assert.Single(files, f => f.Service.Any(s => s.Name == "Management"));
        Assert.Equal("lb.v1", management.Package);
        Assert.Contains(management.Service.Single(s => s.Name == "Management").Method, m => m.Name == "ListPools");
    }

    private async Task<ServerReflectionResponse> AskAsync(string? token, ServerReflectionRequest request)
    {
        using var cts = new CancellationTokenSource(Timeout);
        using var call = _server.Reflection(token).ServerReflectionInfo(cancellationToken: cts.Token);
        await call.RequestStream.WriteAsync(request, cts.Token);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(cts.Token), "reflection ended without an answer");
        var response = call.ResponseStream.Current;
        Assert.NotEqual(ServerReflectionResponse.MessageResponseOneofCase.ErrorResponse, response.MessageResponseCase);
        return response;
    }
}
