using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Snapshots;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// Compiles one snapshot per tier whenever the store changes, after a short debounce so that a
/// burst of writes becomes one push, and publishes the tiers whose content changed. A tier's
/// revision is the store revision at which its content last changed.
/// </summary>
public sealed partial class SnapshotPublisher(
    IStoreReader reader,
    SnapshotCompiler compiler,
    StoreChangeFeed changes,
    TierSnapshotCache cache,
    StoreEpoch epoch,
    AgentRegistry agents,
    ILogger<SnapshotPublisher> logger) : BackgroundService
{
    /// <summary>How long to wait for more writes before compiling.</summary>
    public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var compiledRevision = -1L;
        var compiledTiers = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (changes.Revision == compiledRevision && cache.Tiers.Count == compiledTiers)
                {
                    var storeChanged = changes.WaitAsync(compiledRevision, stoppingToken);
                    await Task.WhenAny(storeChanged, cache.TiersChanged.WaitAsync(stoppingToken)).ConfigureAwait(false);
                    await Task.Delay(Debounce, stoppingToken).ConfigureAwait(false);
                }

                var revision = changes.Revision;
                var tiers = cache.Tiers;
                await CompileAndPublishAsync(revision, tiers, stoppingToken).ConfigureAwait(false);
                compiledRevision = revision;
                compiledTiers = tiers.Count;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is InvalidOperationException or StoreUnavailableException)
            {
                // Nothing is published: agents keep their last good snapshot. Try again shortly.
                Log.CompileFailed(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task CompileAndPublishAsync(long revision, IReadOnlyCollection<string> extraTiers, CancellationToken cancellationToken)
    {
        using var span = Observability.ControlPlaneTracing.Source.StartActivity("compile snapshots");
        // One deferred read transaction: every tier sees the same revision, writers are not blocked.
        var store = await compiler.CompileCurrentAsync(reader, extraTiers, cancellationToken).ConfigureAwait(false);
        var storeRevision = store.Revision;
        var compiled = store.Tiers;
        span?.SetTag("lb.revision", storeRevision);
        span?.SetTag("lb.tiers", compiled.Count);

        foreach (var tier in compiled.Values)
        {
            var previous = cache.Get(tier.Tier);
            if (previous is not null && previous.Hash == tier.Hash)
            {
                continue;
            }
            var tierRevision = Math.Max(storeRevision, revision);
            var message = new ControlPlaneMessage
            {
                Snapshot = new Snapshot { Revision = tierRevision, Hash = tier.Hash, Payload = tier.Payload, Epoch = epoch.Value },
            };
            using (var publish = Observability.ControlPlaneTracing.Source.StartActivity("publish snapshot"))
            {
                publish?.SetTag("lb.tier", tier.Tier);
                publish?.SetTag("lb.revision", tierRevision);
                publish?.SetTag("lb.agents", agents.ConnectedCount(tier.Tier));
                cache.Publish(new TierSnapshot(tier.Tier, tierRevision, tier.Hash, message, tier.Data, DeltaFrom(previous, tierRevision, tier, message)));
            }
            Log.Published(logger, tier.Tier, tierRevision, tier.Hash[..12], tier.Data.Listeners.Count, tier.Data.Pools.Count);
        }
    }

    /// <summary>
    /// The change from the tier's previous snapshot, computed once here for every agent that holds
    /// that one; none when it would not be smaller than the snapshot itself.
    /// </summary>
    private ControlPlaneMessage? DeltaFrom(TierSnapshot? previous, long revision, CompiledTier tier, ControlPlaneMessage snapshot)
    {
        if (previous?.Data is null)
        {
            return null;
        }
        var delta = SnapshotDeltas.Compute(previous.Data, tier.Data);
        delta.BaseRevision = previous.Revision;
        delta.BaseHash = previous.Hash;
        delta.Revision = revision;
        delta.Hash = tier.Hash;
        delta.Epoch = epoch.Value;
        var message = new ControlPlaneMessage { Delta = delta };
        return message.CalculateSize() < snapshot.CalculateSize() ? message : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Tier {Tier} snapshot at revision {Revision} ({Hash}): {Listeners} listeners, {Pools} pools")]
        public static partial void Published(ILogger logger, string tier, long revision, string hash, int listeners, int pools);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Snapshot compilation failed, agents keep their last snapshot: {Reason}")]
        public static partial void CompileFailed(ILogger logger, string reason);
    }
}
