namespace LoadBalancer.ControlPlane.Access;

public static class AccessExtensions
{
    /// <summary>Tokens, the auth interceptor (a singleton: it holds the rate-limit buckets) and the access service.</summary>
    public static IServiceCollection AddAccessControl(this IServiceCollection services, AccessLimits limits)
    {
        services.AddSingleton(limits);
        services.AddSingleton<TokenService>();
        services.AddSingleton<AuthInterceptor>();
        services.AddHostedService<LastUsedFlusher>();
        return services;
    }

    public static IEndpointRouteBuilder MapAccessApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<AccessService>();
        return endpoints;
    }

    private sealed class LastUsedFlusher(TokenService tokens) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                {
                    await tokens.FlushLastUsedAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
    }
}
