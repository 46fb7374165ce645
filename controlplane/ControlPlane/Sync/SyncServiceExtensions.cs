namespace LoadBalancer.ControlPlane.Sync;

/// <summary>Wiring of the agent sync stream and the snapshot publisher.</summary>
public static partial class SyncServiceExtensions
{
    public static IServiceCollection AddAgentSync(this IServiceCollection services, AgentRetention retention)
    {
        services.AddSingleton(retention);
        services.AddSingleton<TierSnapshotCache>();
        services.AddSingleton<Management.ITierStatusSource>(sp => sp.GetRequiredService<TierSnapshotCache>());
        services.AddSingleton<AgentStateBuffer>();
        services.AddSingleton<Management.IAgentStateOverlay>(sp => sp.GetRequiredService<AgentStateBuffer>());
        services.AddSingleton<AgentRegistry>();
        services.AddHostedService<AgentRegistryStartup>();
        services.AddHostedService<AgentStateFlush>();
        services.AddHostedService<AgentExpirySweep>();
        services.AddHostedService<SnapshotPublisher>();
        return services;
    }

    public static IEndpointRouteBuilder MapAgentSync(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<AgentSyncService>();
        return endpoints;
    }

    /// <summary>Forgets agents gone longer than the retention allows, at start and then regularly.</summary>
    private sealed partial class AgentExpirySweep(AgentRegistry agents, AgentRetention retention, ILogger<AgentExpirySweep> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (retention.Expiry <= TimeSpan.Zero)
            {
                return;
            }
            // A tenth of the expiry, within [1 min, 1 h]: an agent outlives its expiry by at most that.
            var every = TimeSpan.FromTicks(Math.Clamp(retention.Expiry.Ticks / 10, TimeSpan.FromMinutes(1).Ticks, TimeSpan.FromHours(1).Ticks));
            using var timer = new PeriodicTimer(every);
            do
            {
                try
                {
                    await agents.ExpireAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is Store.StoreUnavailableException or InvalidOperationException)
                {
                    Log.SweepFailed(logger, ex.GetBaseException().Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Could not forget expired agents: {Reason}")]
            public static partial void SweepFailed(ILogger logger, string reason);
        }
    }

    /// <summary>
    /// Writes agents' observed state in bulk every <see cref="FlushInterval"/>, and once more
    /// when the control plane stops (streams end first), so a clean stop loses nothing.
    /// </summary>
    private sealed partial class AgentStateFlush(AgentRegistry agents, ILogger<AgentStateFlush> logger) : BackgroundService
    {
        /// <summary>How stale an agent's row may be (what the API shows is never stale: it reads the memory too).</summary>
        private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(FlushInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        private async Task FlushAsync(CancellationToken cancellationToken)
        {
            try
            {
                await agents.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or Store.StoreUnavailableException)
            {
                Log.FlushFailed(logger, ex.GetBaseException().Message);
            }
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "Could not write agents' observed state; retried in a second: {Reason}")]
            public static partial void FlushFailed(ILogger logger, string reason);
        }
    }

    /// <summary>No stream survives a restart: clear the connected flags left by the previous run.</summary>
    private sealed class AgentRegistryStartup(AgentRegistry agents) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => agents.MarkAllDisconnectedAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
