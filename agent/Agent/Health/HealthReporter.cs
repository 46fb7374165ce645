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
    private static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan DrainRefreshInterval = TimeSpan.FromSeconds(1);

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
        // Draining backends are refreshed every second, and only when their count moved, so that
        // lbctl shows a drain's in-flight count going down (and the control plane sees it end)
        // without every agent rewriting its whole summary each second.
        var ticksPerSummary = (int)(SummaryInterval / DrainRefreshInterval);
        var sentInFlight = new Dictionary<(string, string), long>();
        try
        {
            using var timer = new PeriodicTimer(DrainRefreshInterval);
            for (var tick = 1; await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false); tick++)
            {
                if (tick % ticksPerSummary == 0)
                {
                    sentInFlight.Clear();
                    SendSummary();
                    continue;
                }
                var moved = monitor.Draining().Where(o => !sentInFlight.TryGetValue((o.Pool, o.Backend), out var sent) || sent != o.InFlight).ToList();
                if (moved.Count > 0 && sync.TrySend(ToMessage(moved, full: false)))
                {
                    foreach (var o in moved)
                    {
                        sentInFlight[(o.Pool, o.Backend)] = o.InFlight;
                    }
                }
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
