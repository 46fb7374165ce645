using Grpc.Core;
using Grpc.Core.Interceptors;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Connection;

public class CallDefaultsInterceptorTests
{
    [Fact]
    public async Task Call_WithToken_CarriesBearerHeaderAndDeadline()
    {
        var fake = new FakeManagement().On<GetStatusRequest>("GetStatus", _ => new StatusResponse());
        var client = new Management.ManagementClient(fake.Intercept(new CallDefaultsInterceptor("s3cret", TimeSpan.FromSeconds(30))));

        await client.GetStatusAsync(new GetStatusRequest());

        var headers = Assert.Single(fake.Calls).Headers!;
        Assert.Equal("Bearer s3cret", headers.GetValue("authorization"));
    }

    [Fact]
    public async Task Call_WithoutToken_SendsNoAuthorization()
    {
        var fake = new FakeManagement().On<GetStatusRequest>("GetStatus", _ => new StatusResponse());
        var client = new Management.ManagementClient(fake.Intercept(new CallDefaultsInterceptor(null, TimeSpan.FromSeconds(30))));

        await client.GetStatusAsync(new GetStatusRequest());

        Assert.Null(Assert.Single(fake.Calls).Headers!.Get("authorization"));
    }
}
