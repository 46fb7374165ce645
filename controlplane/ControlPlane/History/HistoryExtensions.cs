using LoadBalancer.ControlPlane.Store.History;

namespace LoadBalancer.ControlPlane.History;

public static class HistoryExtensions
{
    /// <summary>The history reader, the rollback writer and the background compactor under <paramref name="options"/>.</summary>
    public static IServiceCollection AddHistory(this IServiceCollection services, HistoryOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<HistoryReader>();
        services.AddSingleton<RollbackWriter>();
        services.AddSingleton<HistoryCompactor>();
        services.AddHostedService(sp => sp.GetRequiredService<HistoryCompactor>());
        return services;
    }

    public static IEndpointRouteBuilder MapHistory(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<HistoryService>();
        return endpoints;
    }
}
