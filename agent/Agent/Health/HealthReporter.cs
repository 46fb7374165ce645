using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Sync;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Health;

/// <summary>
/// Sends health to the control plane: transitions batched over a short window (a flapping
/// backend yields at most one report per window, its latest state) plus a periodic full
/// summary, and a summary at once whenever the stream (re)connects.
/// </summary>
internal sealed class HealthReporter(HealthMonitor monitor, SyncClient sync) : BackgroundService
{
    private static readonly TimeSpan BatchWindow = TimeSpan.FromMilliseconds(500);
    // Also refreshes the in-flight counts that lbctl shows while a backend drains.
    private static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        sync.Connected += SendSummary;
        var summary = RunSummariesAsync(stoppingToken);
        try
        {
            var reader = monitor.Transitions;
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                await Task.Delay(BatchWindow, stoppingToken).ConfigureAwait(false);
                var latest = new Dictionary<(string, string), HealthObservation>();
                while (reader.TryRead(out var observation))
                {
                    latest[(observation.Pool, observation.Backend)] = observation;
                }
                if (latest.Count > 0)
                {
                    sync.TrySend(ToMessage(latest.Values, full: false));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        await summary.ConfigureAwait(false);
    }

    private async Task RunSummariesAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(SummaryInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                SendSummary();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void SendSummary() => sync.TrySend(ToMessage(monitor.Summary(), full: true));

    private static AgentMessage ToMessage(IEnumerable<HealthObservation> observations, bool full)
    {
        var report = new HealthReport { Full = full };
        foreach (var o in observations)
        {
            report.Backends.Add(new BackendHealthReport
            {
                Pool = o.Pool,
                Backend = o.Backend,
                State = o.State switch
                {
                    BackendHealth.Healthy => "healthy",
                    BackendHealth.Unhealthy => "unhealthy",
                    _ => "unknown",
                },
                Reason = o.Reason,
                ObservedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(o.Since, DateTimeKind.Utc)),
                InFlight = o.InFlight,
            });
        }
        return new AgentMessage { Health = report };
    }
}
