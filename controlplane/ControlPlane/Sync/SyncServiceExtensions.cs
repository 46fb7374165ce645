namespace LoadBalancer.ControlPlane.Sync;

/// <summary>Wiring of the agent sync stream and the snapshot publisher.</summary>
public static class SyncServiceExtensions
{
    public static IServiceCollection AddAgentSync(this IServiceCollection services)
    {
        services.AddSingleton<TierSnapshotCache>();
        services.AddSingleton<Management.ITierStatusSource>(sp => sp.GetRequiredService<TierSnapshotCache>());
        services.AddSingleton<AgentRegistry>();
        services.AddHostedService<AgentRegistryStartup>();
        services.AddHostedService<SnapshotPublisher>();
        return services;
    }

    public static IEndpointRouteBuilder MapAgentSync(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<AgentSyncService>();
        return endpoints;
    }

    /// <summary>No stream survives a restart: clear the connected flags left by the previous run.</summary>
    private sealed class AgentRegistryStartup(AgentRegistry agents) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => agents.MarkAllDisconnectedAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
