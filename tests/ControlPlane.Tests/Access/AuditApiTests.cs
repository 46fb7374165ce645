using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>ListAudit's filters over the real server.</summary>
public sealed class AuditApiTests : IAsyncLifetime
{
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task KindFilter_IgnoresCase_AndAnUnknownKindIsAViolationNamingTheKinds()
    {
        await _server.Management(_server.AdminToken).CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("web") });
        await _server.CreateTokenAsync("viewer");
        var access = _server.Access(_server.AdminToken);

        var pools = await access.ListAuditAsync(new ListAuditRequest { Kind = "POOL" });
        Assert.Equal(["web"], pools.Items.Select(e => e.Name));
        Assert.All((await access.ListAuditAsync(new ListAuditRequest { Kind = "token" })).Items, e => Assert.Equal("Token", e.Kind));

        var description = await RpcAssert.FieldViolationAsync(async () => await access.ListAuditAsync(new ListAuditRequest { Kind = "pools" }), "kind");
        Assert.Contains("Certificate", description, StringComparison.Ordinal);
        await RpcAssert.FieldViolationAsync(async () => await access.ListAuditAsync(new ListAuditRequest { Limit = 1001 }), "limit");
    }
}
