using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoadBalancer.ControlPlane.Management;

public static class ManagementApiExtensions
{
    /// <summary>Largest request accepted (an Apply of many resources with certificate chains fits easily).</summary>
    public const int MaxRequestBytes = 4 * 1024 * 1024;

    /// <summary>Registers gRPC and the management service; a no-op <see cref="ITierStatusSource"/> unless one is already registered.</summary>
    public static IServiceCollection AddManagementApi(this IServiceCollection services)
    {
        services.AddGrpc(options =>
        {
            // Metrics first, so refused calls are counted too; then authentication and authorization.
            options.Interceptors.Add<Observability.MetricsInterceptor>();
            options.Interceptors.Add<Access.AuthInterceptor>();
            options.MaxReceiveMessageSize = MaxRequestBytes;
        });
        services.TryAddSingleton<ITierStatusSource, NoTierStatusSource>();
        return services;
    }

    public static IEndpointRouteBuilder MapManagementApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<ManagementService>();
        return endpoints;
    }
}
