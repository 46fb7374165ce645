using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Agent.Cache;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Api.V1;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Agent.Sync;

/// <summary>
/// Keeps the agent in step with the control plane over one bidirectional stream: says Hello
/// with the revision it serves, applies each snapshot, ACKs (with listener outcomes) or NACKs
/// it, and reconnects with capped exponential backoff and jitter, trying each control-plane URL
/// in turn. The data plane never waits for it: the cached snapshot is served first.
/// </summary>
internal sealed partial class SyncClient(
    AgentOptions options,
    Metrics.AgentMetrics metrics,
    ConfigApplier applier,
    ListenerManager listeners,
    SnapshotDiskCache cache,
    ILogger<SyncClient> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    /// <summary>How long a stopping agent waits for its Goodbye to be written and answered before it cuts the stream.</summary>
    internal static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromMilliseconds(2500);

    /// <summary>How the control plane's status detail starts when it ends streams because it is stopping.</summary>
    internal const string ControlPlaneStopping = "control plane stopping";

    private Channel<AgentMessage>? _outbox;

    // The control plane's CA once fetched and matched against --ca-fingerprint.
    private X509Certificate2Collection? _pinnedCa;

    // The database epoch of the served snapshot: revisions compare only within one epoch.
    private string _epoch = string.Empty;

    // What is served, decoded and mapped: the base the next delta applies to.
    private Served? _served;

    private sealed record Served(SnapshotData Data, TierConfig Config);

    /// <summary>Raised once a stream is open and Hello is queued; the health summary follows it.</summary>
    public event Action? Connected;

    /// <summary>Queues a message on the open stream; false when there is none (it is dropped).</summary>
    public bool TrySend(AgentMessage message) => _outbox?.Writer.TryWrite(message) ?? false;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ServeFromCacheAsync(stoppingToken).ConfigureAwait(false);
        listeners.OutcomesChanged += OnOutcomesChanged;

        var failures = 0;
        var index = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var url = options.ControlPlanes[index % options.ControlPlanes.Count];
            try
            {
                await RunStreamAsync(url, () => failures = 0, stoppingToken).ConfigureAwait(false);
                if (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                Log.StreamEnded(logger, url);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.Status.Detail.StartsWith(ControlPlaneStopping, StringComparison.Ordinal))
            {
                // A planned restart of the control plane, not a fault: the agent keeps serving.
                Log.ControlPlaneStopping(logger, url);
            }
            catch (CaDiscoveryException ex)
            {
                // No stream without the pinned CA: say why, and try again with backoff.
                Log.CaNotPinned(logger, ex.Message);
            }
            catch (Exception ex) when (ex is RpcException or IOException or HttpRequestException or InvalidOperationException or OperationCanceledException)
            {
                // Once stopping, whatever broke the stream is part of the shutdown: no reconnect.
                if (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                Log.StreamFailed(logger, url, ex.GetBaseException().Message);
            }
            finally
            {
                _outbox = null;
            }
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            failures++;
            index++;
            try
            {
                await Task.Delay(BackoffDelay(failures, Random.Shared.NextDouble()), stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Equal jitter over a capped exponential (250 ms doubling, capped at 10 s): at least half the
    /// step, so reconnects never hammer, and a random other half, so agents that lost the same
    /// control plane do not all come back in the same instant.
    /// </summary>
    /// <param name="failures">Consecutive failed streams, 1 for the first.</param>
    /// <param name="random">A number in [0, 1).</param>
    internal static TimeSpan BackoffDelay(int failures, double random)
    {
        var cap = Math.Min(MaxBackoff.TotalMilliseconds, 250 * Math.Pow(2, Math.Clamp(failures, 0, 10)));
        return TimeSpan.FromMilliseconds((cap / 2) + (random * cap / 2));
    }

    private async Task ServeFromCacheAsync(CancellationToken cancellationToken)
    {
        var cached = cache.Load();
        if (cached is null)
        {
            return;
        }
        try
        {
            var (config, data) = SnapshotMapper.DecodeData(cached, options.Tier);
            await applier.ApplyAsync(config, cancellationToken).ConfigureAwait(false);
            _served = new Served(data, config);
            _epoch = cached.Epoch;
            Log.ServingFromCache(logger, cached.Revision);
        }
        catch (SnapshotRejectedException ex)
        {
            Log.CacheRejected(logger, ex.Message);
        }
    }

    private async Task RunStreamAsync(Uri url, Action connected, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(url, new GrpcChannelOptions
        {
            HttpHandler = CreateHandler(await PinnedRootsAsync(url, cancellationToken).ConfigureAwait(false)),
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
        var client = new AgentSync.AgentSyncClient(channel);
        var headers = new Metadata();
        if (options.TokenFile is { } tokenFile)
        {
            headers.Add("authorization", "Bearer " + (await File.ReadAllTextAsync(tokenFile, cancellationToken).ConfigureAwait(false)).Trim());
        }

        // The call has its own cancellation, not the stopping token: cancelling a call resets the
        // stream, which the control plane can only record as a lost agent. On stop the agent says
        // Goodbye and half-closes instead, and cuts the call only if that does not finish in time.
        using var streamCancellation = new CancellationTokenSource();
        using var call = client.Sync(headers, cancellationToken: streamCancellation.Token);
        var outbox = Channel.CreateUnbounded<AgentMessage>(new UnboundedChannelOptions { SingleReader = true });
        var writer = WriteOutboxAsync(call.RequestStream, outbox.Reader, streamCancellation.Token);
        using var goodbye = cancellationToken.Register(() =>
        {
            outbox.Writer.TryWrite(new AgentMessage { Goodbye = new Goodbye { Reason = "the agent is shutting down" } });
            outbox.Writer.TryComplete();
            streamCancellation.CancelAfter(GoodbyeTimeout);
        });

        var current = applier.Current;
        outbox.Writer.TryWrite(new AgentMessage
        {
            Hello = new Hello
            {
                Name = options.Name,
                Tier = options.Tier,
                SoftwareVersion = AgentOptions.SoftwareVersion,
                Revision = current.Revision,
                SnapshotHash = current.Hash,
                Epoch = _epoch,
                AcceptsDeltas = true,
            },
        });
        _outbox = outbox;
        Connected?.Invoke();

        try
        {
            // Ends when the control plane answers the half-close (or ends the stream itself).
            await foreach (var message in call.ResponseStream.ReadAllAsync(streamCancellation.Token).ConfigureAwait(false))
            {
                connected();
                switch (message.MessageCase)
                {
                    case ControlPlaneMessage.MessageOneofCase.Snapshot when !cancellationToken.IsCancellationRequested:
                        await HandleSnapshotAsync(message.Snapshot, outbox.Writer, cancellationToken).ConfigureAwait(false);
                        break;
                    case ControlPlaneMessage.MessageOneofCase.Delta when !cancellationToken.IsCancellationRequested:
                        await HandleDeltaAsync(message.Delta, outbox.Writer, cancellationToken).ConfigureAwait(false);
                        break;
                    case ControlPlaneMessage.MessageOneofCase.Bookmark:
                        Log.UpToDate(logger, message.Bookmark.Revision);
                        outbox.Writer.TryWrite(AckFor(applier.Current, listeners.Outcomes));
                        break;
                }
            }
        }
        finally
        {
            outbox.Writer.TryComplete();
            await streamCancellation.CancelAsync().ConfigureAwait(false);
            try
            {
                await writer.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or RpcException or InvalidOperationException or IOException)
            {
                // The stream is already gone; nothing left to send.
            }
        }
    }

    private async Task HandleSnapshotAsync(Snapshot snapshot, ChannelWriter<AgentMessage> outbox, CancellationToken cancellationToken)
    {
        var current = applier.Current;
        // A lower revision of another epoch is a restored control-plane database: take it.
        if (snapshot.Revision < current.Revision && snapshot.Epoch == _epoch)
        {
            Log.OlderSnapshotIgnored(logger, snapshot.Revision, current.Revision);
            return;
        }

        TierConfig config;
        SnapshotData data;
        try
        {
            (config, data) = SnapshotMapper.DecodeData(snapshot, options.Tier);
        }
        catch (SnapshotRejectedException ex)
        {
            Log.SnapshotRejected(logger, snapshot.Revision, ex.Message);
            metrics.Nacks.Inc();
            outbox.TryWrite(new AgentMessage { Nack = new Nack { Revision = snapshot.Revision, SnapshotHash = snapshot.Hash, Error = ex.Message } });
            return;
        }
        await ApplyAndAckAsync(snapshot, data, config, metrics.Snapshots, outbox, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A delta is applied to what is served into a whole snapshot, checked against the control
    /// plane's hash, then applied like a snapshot, and the cache keeps the whole result. One that
    /// does not apply changes nothing: the agent NACKs it saying why and asks for the snapshot.
    /// </summary>
    private async Task HandleDeltaAsync(SnapshotDelta delta, ChannelWriter<AgentMessage> outbox, CancellationToken cancellationToken)
    {
        var served = _served;
        if (served is not null && delta.Revision < served.Config.Revision && delta.Epoch == _epoch)
        {
            Log.OlderSnapshotIgnored(logger, delta.Revision, served.Config.Revision);
            return;
        }

        Snapshot snapshot;
        SnapshotData data;
        TierConfig config;
        try
        {
            if (served is null)
            {
                throw new DeltaRejectedException("base", $"delta {delta.Revision} arrived before any snapshot");
            }
            (snapshot, data) = SnapshotDeltas.Apply(served.Data, served.Config.Hash, delta);
            SnapshotMapper.CheckTier(delta.Revision, data, options.Tier);
            config = SnapshotMapper.Map(delta.Revision, delta.Hash, data, served.Data, served.Config);
        }
        catch (Exception ex) when (ex is DeltaRejectedException or SnapshotRejectedException)
        {
            var reason = ex is DeltaRejectedException rejected ? rejected.Reason : "invalid";
            Log.DeltaRejected(logger, delta.Revision, ex.Message);
            metrics.DeltaFailures.WithLabels(reason).Inc();
            outbox.TryWrite(new AgentMessage { Nack = new Nack { Revision = delta.Revision, SnapshotHash = delta.Hash, Error = "delta: " + ex.Message, WantsSnapshot = true } });
            return;
        }
        await ApplyAndAckAsync(snapshot, data, config, metrics.Deltas, outbox, cancellationToken).ConfigureAwait(false);
    }

    private async Task ApplyAndAckAsync(Snapshot snapshot, SnapshotData data, TierConfig config, Prometheus.Counter received, ChannelWriter<AgentMessage> outbox, CancellationToken cancellationToken)
    {
        IReadOnlyList<ListenerOutcome> outcomes;
        try
        {
            outcomes = await applier.ApplyAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Defence in depth: whatever slipped past validation must not take the agent down.
            Log.SnapshotRejected(logger, snapshot.Revision, ex.Message);
            metrics.Nacks.Inc();
            outbox.TryWrite(new AgentMessage { Nack = new Nack { Revision = snapshot.Revision, SnapshotHash = snapshot.Hash, Error = "apply failed: " + ex.Message } });
            return;
        }
        _served = new Served(data, config);
        _epoch = snapshot.Epoch;
        received.Inc();
        cache.Save(snapshot);
        outbox.TryWrite(AckFor(config, outcomes));
    }

    private static AgentMessage AckFor(TierConfig config, IReadOnlyList<ListenerOutcome> outcomes)
    {
        var ack = new Ack { Revision = config.Revision, SnapshotHash = config.Hash };
        foreach (var outcome in outcomes)
        {
            ack.Listeners.Add(new ListenerResult { Name = outcome.Name, Programmed = outcome.Programmed, Reason = outcome.Reason });
        }
        return new AgentMessage { Ack = ack };
    }

    private void OnOutcomesChanged()
    {
        _outbox?.Writer.TryWrite(AckFor(applier.Current, listeners.Outcomes));
    }

    private static async Task WriteOutboxAsync(IClientStreamWriter<AgentMessage> stream, ChannelReader<AgentMessage> outbox, CancellationToken cancellationToken)
    {
        await foreach (var message in outbox.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        await stream.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The CA the control plane's certificate must chain to: the one in --ca-file, or the one
    /// fetched from the control plane and kept only if its hash is --ca-fingerprint (fetched once:
    /// it does not change while the agent runs); null for the system's trust store.
    /// </summary>
    private async Task<X509Certificate2Collection?> PinnedRootsAsync(Uri url, CancellationToken cancellationToken)
    {
        if (options.CaFile is { } caFile)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            return roots;
        }
        if (options.CaFingerprint is { } fingerprint && url.Scheme == Uri.UriSchemeHttps)
        {
            return _pinnedCa ??= [await CaTrust.FetchCaAsync(url, fingerprint, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false)];
        }
        return null;
    }

    private static SocketsHttpHandler CreateHandler(X509Certificate2Collection? pinnedRoots)
    {
        var handler = new SocketsHttpHandler
        {
            // Detects a dead control plane on an idle stream, so the agent reconnects elsewhere.
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            EnableMultipleHttp2Connections = true,
        };
        if (pinnedRoots is not null)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                },
            };
            handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(pinnedRoots);
        }
        return handler;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Serving revision {Revision} from the local cache")]
        public static partial void ServingFromCache(ILogger logger, long revision);

        [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "The cached snapshot was refused: {Reason}")]
        public static partial void CacheRejected(ILogger logger, string reason);

        [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "Sync stream to {Url} failed: {Reason}; reconnecting with backoff")]
        public static partial void StreamFailed(ILogger logger, Uri url, string reason);

        [LoggerMessage(EventId = 6004, Level = LogLevel.Information, Message = "Sync stream to {Url} ended; reconnecting")]
        public static partial void StreamEnded(ILogger logger, Uri url);

        [LoggerMessage(EventId = 6005, Level = LogLevel.Warning, Message = "Snapshot {Revision} rejected (NACK): {Reason}")]
        public static partial void SnapshotRejected(ILogger logger, long revision, string reason);

        [LoggerMessage(EventId = 6006, Level = LogLevel.Warning, Message = "Ignored snapshot {Revision} older than the served {Current}")]
        public static partial void OlderSnapshotIgnored(ILogger logger, long revision, long current);

        [LoggerMessage(EventId = 6007, Level = LogLevel.Information, Message = "Revision {Revision} is current")]
        public static partial void UpToDate(ILogger logger, long revision);

        [LoggerMessage(EventId = 6008, Level = LogLevel.Information, Message = "The control plane {Url} is stopping; serving the current snapshot and reconnecting with backoff")]
        public static partial void ControlPlaneStopping(ILogger logger, Uri url);

        [LoggerMessage(EventId = 6010, Level = LogLevel.Warning, Message = "Delta to revision {Revision} not applied (NACK, whole snapshot asked for): {Reason}")]
        public static partial void DeltaRejected(ILogger logger, long revision, string reason);

        [LoggerMessage(EventId = 6009, Level = LogLevel.Warning, Message = "The control plane's CA is not the pinned one (--ca-fingerprint): {Reason}")]
        public static partial void CaNotPinned(ILogger logger, string reason);
    }
}
