namespace LoadBalancer.ControlPlane.Sync;

/// <summary>Wiring of the agent sync stream and the snapshot publisher.</summary>
public static class SyncServiceExtensions
{
    public static IServiceCollection AddAgentSync(this IServiceCollection services)
    {
        return services;
    }

    public static IEndpointRouteBuilder MapAgentSync(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }
}
