using LoadBalancer.ControlPlane.Hosting;
using LoadBalancer.ControlPlane.Store;
using Prometheus;

namespace LoadBalancer.ControlPlane.Observability;

public static class ObservabilityExtensions
{
    public static IServiceCollection AddControlPlaneObservability(this IServiceCollection services)
    {
        services.AddSingleton<ControlPlaneMetrics>();
        services.AddHostedService<RevisionWatcher>();
        services.AddHostedService<AgentSyncGauge>();
        return services;
    }

    /// <summary>/healthz (liveness), /readyz (the store answers) and /metrics, on the admin port only (the port the connection came in on, not the Host header).</summary>
    public static WebApplication MapAdminEndpoints(this WebApplication app, int adminPort)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n")).RequireLocalPort(adminPort);
        app.MapGet("/readyz", async (IStoreReader store, CancellationToken cancellationToken) =>
        {
            try
            {
                var revision = await store.RevisionAsync(cancellationToken).ConfigureAwait(false);
                return Results.Text($"ready: revision {revision}\n");
            }
            catch (Exception ex) when (ex is StoreUnavailableException or InvalidOperationException)
            {
                return Results.Text($"not ready: {ex.Message}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        }).RequireLocalPort(adminPort);
        app.MapMetrics("/metrics").RequireLocalPort(adminPort);
        return app;
    }

    /// <summary>Feeds committed revisions to the metrics (revision gauge, push-duration start times).</summary>
    private sealed class RevisionWatcher(StoreChangeFeed feed, ControlPlaneMetrics metrics) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var seen = feed.Revision;
            metrics.Revision.Set(seen);
            try
            {
                while (!stoppingToken.IsCancellationRequested)
                {
                    var revision = await feed.WaitAsync(seen, stoppingToken).ConfigureAwait(false);
                    for (var r = seen + 1; r <= revision; r++)
                    {
                        metrics.Committed(r);
                    }
                    seen = revision;
                }
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
    }
}
