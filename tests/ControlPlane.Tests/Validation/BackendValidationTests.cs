using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class BackendValidationTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync()
    {
        _f = await StoreFixture.CreateAsync();
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, _f.Context);
    }

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private Task<Backend> Create(Backend backend) => _f.Service.CreateBackend(new WriteBackendRequest { Backend = backend }, _f.Context);

    [Fact]
    public async Task Create_ValidBackend_DefaultsAreNotWrittenIntoSpec()
    {
        var created = await Create(Backend("web-1", "web"));
        Assert.False(created.Spec.HasWeight);
        Assert.Equal("", created.Spec.State);
        Assert.Equal("unknown", created.Status.Health);
    }

    [Fact]
    public async Task Create_WeightZero_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "web", change: s => s.Weight = 0)), "spec.weight");
    }

    [Fact]
    public async Task Create_WeightTooLarge_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "web", change: s => s.Weight = 100000)), "spec.weight");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task Create_WeightAtBounds_IsAccepted(int weight)
    {
        var created = await Create(Backend("web-1", "web", change: s => s.Weight = weight));
        Assert.Equal(weight, created.Spec.Weight);
    }

    [Fact]
    public async Task Create_AddressWithoutPort_IsRejectedWithFieldViolation()
    {
        var description = await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "web", "10.0.0.1")), "spec.address");
        Assert.Contains("missing port", description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[2001:db8::1]:443")]
    [InlineData("app.internal:8080")]
    public async Task Create_Ipv6OrHostnameAddress_IsAccepted(string address)
    {
        await Create(Backend("web-1", "web", address));
    }

    [Fact]
    public async Task Create_UnknownPool_IsRejectedWithFieldViolation()
    {
        var description = await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "nope")), "spec.pool");
        Assert.Contains("does not exist", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_MissingPool_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "")), "spec.pool");
    }

    [Fact]
    public async Task Create_UnknownState_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => Create(Backend("web-1", "web", change: s => s.State = "paused")), "spec.state");
    }

    [Fact]
    public async Task Create_MissingSpec_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => Create(new Backend { Metadata = new ObjectMeta { Name = "web-1" } }), "spec");
    }
}
