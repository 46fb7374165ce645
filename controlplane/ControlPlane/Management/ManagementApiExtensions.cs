using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoadBalancer.ControlPlane.Management;

public static class ManagementApiExtensions
{
    /// <summary>Largest request accepted (an Apply of many resources with certificate chains fits easily).</summary>
    public const int MaxRequestBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Registers gRPC, its REST+JSON face (JSON transcoding of the google.api.http routes in the
    /// protos) and the management service; a no-op <see cref="ITierStatusSource"/> unless one is
    /// already registered. Transcoded calls run through the same interceptors: same tokens,
    /// roles, limits and metrics.
    /// </summary>
    public static IServiceCollection AddManagementApi(this IServiceCollection services)
    {
        services.AddGrpc(options =>
        {
            // Metrics first, so refused calls are counted too; then authentication and authorization.
            options.Interceptors.Add<Observability.MetricsInterceptor>();
            options.Interceptors.Add<Access.AuthInterceptor>();
            // Last, so the store's and validation's refusals are gRPC statuses before the others see them.
            options.Interceptors.Add<Hosting.RpcErrorInterceptor>();
            options.MaxReceiveMessageSize = MaxRequestBytes;
        }).AddJsonTranscoding(options =>
        {
            // Errors carry google.rpc.BadRequest field violations (as gRPC's status details do);
            // JSON needs their type to write them.
            options.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromFiles(Google.Rpc.ErrorDetailsReflection.Descriptor);
        });
        services.AddSingleton<Hosting.RpcErrorInterceptor>();
        services.TryAddSingleton<ITierStatusSource, NoTierStatusSource>();
        services.TryAddSingleton<IAgentStateOverlay, NoAgentStateOverlay>();
        return services;
    }

    public static IEndpointRouteBuilder MapManagementApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<ManagementService>();
        return endpoints;
    }
}
