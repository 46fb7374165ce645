using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoadBalancer.ControlPlane.Events;

public static class EventsExtensions
{
    /// <summary>The recorder, its feed and sources (agent observations, store results) and the reader; <see cref="EventOptions"/> unless one is registered already.</summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.TryAddSingleton(new EventOptions());
        services.AddSingleton<EventFeed>();
        services.AddSingleton<EventRecorder>();
        services.AddSingleton<EventReader>();
        services.AddSingleton<DrainTracker>();
        services.AddSingleton<AgentEvents>();
        services.AddHostedService<StoreEventSource>();
        return services;
    }

    public static IEndpointRouteBuilder MapEvents(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<EventsService>();
        return endpoints;
    }
}
