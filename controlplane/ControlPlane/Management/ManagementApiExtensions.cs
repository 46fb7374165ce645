using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoadBalancer.ControlPlane.Management;

public static class ManagementApiExtensions
{
    /// <summary>Registers gRPC and the management service; a no-op <see cref="ITierStatusSource"/> unless one is already registered.</summary>
    public static IServiceCollection AddManagementApi(this IServiceCollection services)
    {
        services.AddGrpc(options => options.Interceptors.Add<Observability.MetricsInterceptor>());
        services.TryAddSingleton<ITierStatusSource, NoTierStatusSource>();
        return services;
    }

    public static IEndpointRouteBuilder MapManagementApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<ManagementService>();
        return endpoints;
    }
}
