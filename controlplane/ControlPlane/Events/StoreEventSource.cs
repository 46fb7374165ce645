using System.Globalization;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>
/// Events that the store's results tell: a certificate whose fingerprint changed was rotated,
/// and which backends drain (for <see cref="DrainTracker"/>). It follows the change feed after
/// each commit, as the snapshot publisher does, so the write path knows nothing of events.
/// Also prunes old events on a timer, for when nothing new is recorded.
/// </summary>
internal sealed partial class StoreEventSource(
    IStoreReader reader,
    IEventStore events,
    StoreChangeFeed changeFeed,
    EventRecorder recorder,
    DrainTracker drains,
    ILogger<StoreEventSource> logger) : BackgroundService
{
    private const int FingerprintPrefix = 12;
    private static readonly TimeSpan PruneInterval = TimeSpan.FromHours(1);

    private Dictionary<string, string>? _fingerprints;
    private long _revision = -1;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The baseline, before the API takes writes: certificates as stored now were rotated by nobody.
        await ObserveAsync(cancellationToken).ConfigureAwait(false);
        await recorder.PruneAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pruning = PruneLoopAsync(stoppingToken);
        try
        {
            while (true)
            {
                await changeFeed.WaitAsync(_revision, stoppingToken).ConfigureAwait(false);
                if (!await ObserveAsync(stoppingToken).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        await pruning.ConfigureAwait(false);
    }

    /// <summary>Reads certificates and backends as they are now and records what changed since the last look; false when the store could not be read.</summary>
    internal async Task<bool> ObserveAsync(CancellationToken cancellationToken)
    {
        try
        {
            // One view: the rows below belong to its revision, so waiting past it misses no write.
            long revision;
            IReadOnlyList<CertificateEntity> certificates;
            IReadOnlyList<BackendEntity> backends;
            IReadOnlyList<ListenerEntity> listeners;
            await using (var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false))
            {
                revision = view.Revision;
                certificates = await view.ListAsync<CertificateEntity>(cancellationToken).ConfigureAwait(false);
                backends = await view.ListAsync<BackendEntity>(cancellationToken).ConfigureAwait(false);
                listeners = await view.ListAsync<ListenerEntity>(cancellationToken).ConfigureAwait(false);
            }

            var drafts = new List<EventDraft>();
            if (_fingerprints is not null)
            {
                foreach (var certificate in certificates.OrderBy(c => c.Name, StringComparer.Ordinal))
                {
                    if (_fingerprints.TryGetValue(certificate.Name, out var old) && old != certificate.FingerprintSha256)
                    {
                        drafts.Add(EventDraft.Normal(EventReasons.CertificateRotated, EventKinds.Certificate, certificate.Name, "",
                            $"Rotated: fingerprint {Prefix(old)} -> {Prefix(certificate.FingerprintSha256)} (valid until {certificate.NotAfter.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)})"));
                    }
                }
            }
            _fingerprints = certificates.ToDictionary(c => c.Name, c => c.FingerprintSha256, StringComparer.Ordinal);

            var tiersOfPool = listeners
                .Select(l => ProtoJson.Parse<ListenerSpec>(l.SpecJson))
                .SelectMany(l => l.Routes.Select(r => r.Pool).Append(l.Pool).Where(p => p.Length > 0).Select(pool => (Pool: pool, l.Tier)))
                .Distinct()
                .ToLookup(x => x.Pool, x => x.Tier, StringComparer.Ordinal);
            var draining = new List<DrainingBackend>();
            foreach (var backend in backends.Where(b => ProtoJson.Parse<BackendSpec>(b.SpecJson).State == "draining"))
            {
                var tiers = tiersOfPool[backend.Pool].Order(StringComparer.Ordinal).ToList();
                var finished = false;
                if (!drains.IsTracking(backend.Name))
                {
                    // After a restart: a drain already reported since its last change is not reported again.
                    finished = await events.DrainFinishedSinceAsync(backend.Name, backend.UpdatedAt, cancellationToken).ConfigureAwait(false);
                }
                draining.Add(new DrainingBackend(backend.Name, backend.Pool, backend.ResourceVersion, tiers, finished));
            }
            drains.Update(draining);
            _revision = revision;
            await recorder.RecordAsync(drafts).ConfigureAwait(false);
            return true;
        }
        catch (StoreUnavailableException ex)
        {
            // The next commit tries again.
            Log.ObserveFailed(logger, ex.Message);
            return false;
        }
    }

    private async Task PruneLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PruneInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await recorder.PruneAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private static string Prefix(string fingerprint) => fingerprint.Length <= FingerprintPrefix ? fingerprint : fingerprint[..FingerprintPrefix];

    private static partial class Log
    {
        [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Cannot read the store for events: {Reason}")]
        public static partial void ObserveFailed(ILogger logger, string reason);
    }
}
