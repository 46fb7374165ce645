using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// The server side of the agent stream: a thin adapter between the gRPC stream, the tier
/// snapshot cache and the agent registry.
/// </summary>
public sealed partial class AgentSyncService(TierSnapshotCache snapshots, AgentRegistry agents, TokenService tokens, Store.StoreEpoch epoch, Store.IResourceWriter store, IHostApplicationLifetime lifetime,
    Observability.ControlPlaneMetrics metrics, ILogger<AgentSyncService> logger) : AgentSync.AgentSyncBase
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);

    /// <summary>Agents send a health summary every 10 s; a stream silent this long is dead or hostile.</summary>
    internal static TimeSpan SilenceTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Health reports one stream may have written per window. An agent batches transitions and
    /// sends a summary every 10 s, so this is far above an honest agent's rate; beyond it a
    /// flapping or hostile agent's reports are dropped, and the next one within the budget
    /// (a full summary at the latest) brings the view back.
    /// </summary>
    internal static int HealthReportsPerWindow { get; set; } = 20;

    internal static TimeSpan HealthWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Acks and Nacks one stream may have recorded per health window. An honest agent sends one
    /// per snapshot, and snapshots are coalesced; beyond the budget the latest one waits (the
    /// older ones are superseded anyway) and is recorded once the budget allows, at the next
    /// message (a health summary comes every 10 s).
    /// </summary>
    internal static int AcksPerWindow { get; set; } = 100;

    /// <summary>Messages of kinds an agent never sends (or a second Goodbye) logged per window; the rest are only counted.</summary>
    internal static int OtherMessagesPerWindow { get; set; } = 20;

    /// <summary>The status detail (after "Unavailable") of streams ended because this control plane stops.</summary>
    public const string StoppingDetail = "control plane stopping; reconnect with backoff";

    public override async Task Sync(IAsyncStreamReader<AgentMessage> requestStream, IServerStreamWriter<ControlPlaneMessage> responseStream, ServerCallContext context)
    {
        var caller = Caller.Of(context);
        var hello = await ReadHelloAsync(requestStream, context.CancellationToken).ConfigureAwait(false);
        if (caller.Role == Roles.Agent && caller.Tier != hello.Tier)
        {
            // Tier isolation: an agent token opens its own tier's snapshots and no other.
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"token {caller.TokenId} is for tier {caller.Tier}, not {hello.Tier}"));
        }
        if (caller.IsAdmin)
        {
            // An admin's stream receives the tier's private keys and cookie keys, as a key export
            // does, so it is audited the same way (agents' own streams are their job, not an export).
            await store.AuditAsync(caller, "Agent", hello.Name, $"sync-keys:{hello.Tier}", context.CancellationToken).ConfigureAwait(false);
        }
        // Ends the stream when the token is revoked or expires, not only at the next call.
        using var tokenWatch = tokens.Watch(caller, context.CancellationToken);
        AgentConnection connection;
        try
        {
            connection = await agents.ConnectAsync(hello, context.Peer, context.CancellationToken).ConfigureAwait(false);
        }
        catch (AgentNameTakenException ex)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, ex.Message));
        }
        catch (AgentLimitException ex)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ex.Message));
        }
        // ApplicationStopping too: otherwise the server waits out its shutdown timeout on open streams.
        using var streamCancellation = CancellationTokenSource.CreateLinkedTokenSource(tokenWatch.Token, connection.Superseded.Token, lifetime.ApplicationStopping);
        var token = streamCancellation.Token;
        var silent = false;
        var closedByAgent = false;
        string? goodbye = null;
        snapshots.Track(hello.Tier);
        // What the agent holds, as far as its own Hello and ACKs say: deltas are sent against it only.
        var position = new StreamPosition(hello.AcceptsDeltas, hello.Epoch == epoch.Value ? hello.SnapshotHash : null);

        try
        {
            var receiving = ReceiveAsync(requestStream, connection, position, () => silent = true, () => closedByAgent = true, reason => goodbye = reason, token);
            var sending = SendAsync(responseStream, connection, hello, position, token);
            await Task.WhenAny(receiving, sending).ConfigureAwait(false);
            await streamCancellation.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(receiving, sending).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The agent went away, a newer stream took over, or the server is stopping.
        }
        catch (IOException)
        {
            // The connection broke mid-write.
        }
        finally
        {
            // A Goodbye or a half-close is the agent leaving on purpose; anything else lost it.
            var clean = !silent && (goodbye is not null || closedByAgent);
            var reason = goodbye is { Length: > 0 } ? goodbye : LostReason(silent, closedByAgent, tokens.IsUsable(caller.TokenId), caller.TokenId);
            await agents.DisconnectAsync(connection, reason, clean).ConfigureAwait(false);
        }
        if (lifetime.ApplicationStopping.IsCancellationRequested && !closedByAgent)
        {
            // Tells the agent this is a planned stop, not a fault: it keeps serving and reconnects.
            throw new RpcException(new Status(StatusCode.Unavailable, StoppingDetail));
        }
        if (!context.CancellationToken.IsCancellationRequested && !tokens.IsUsable(caller.TokenId))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"token {caller.TokenId} was revoked or expired"));
        }
        if (silent)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"no message from the agent for {SilenceTimeout.TotalSeconds:0} seconds"));
        }
    }

    /// <summary>Why a stream ended, in the words of the AgentLost or AgentDisconnected event.</summary>
    private static string LostReason(bool silent, bool closedByAgent, bool tokenUsable, string tokenId) =>
        silent ? $"no message for {SilenceTimeout.TotalSeconds:0} seconds"
        : !tokenUsable ? $"token {tokenId} was revoked or expired"
        : closedByAgent ? "the agent closed its stream"
        : "the connection was lost";

    private static async Task<Hello> ReadHelloAsync(IAsyncStreamReader<AgentMessage> requestStream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(HelloTimeout);
        bool received;
        try
        {
            received = await requestStream.MoveNext(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, "no Hello within 10 seconds"));
        }
        if (!received || requestStream.Current.MessageCase != AgentMessage.MessageOneofCase.Hello)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message of a sync stream must be Hello"));
        }
        var hello = requestStream.Current.Hello;
        hello.Name = hello.Name.Trim().ToLowerInvariant();
        hello.Tier = hello.Tier.Trim().ToLowerInvariant();
        if (!Validation.Names.IsDnsLabel(hello.Name) || !Validation.Names.IsDnsLabel(hello.Tier))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "hello.name and hello.tier must be DNS labels (lowercase letters, digits, '-', at most 63)"));
        }
        return hello;
    }

    private async Task ReceiveAsync(IAsyncStreamReader<AgentMessage> requestStream, AgentConnection connection, StreamPosition position, Action wentSilent, Action closed, Action<string> saidGoodbye, CancellationToken cancellationToken)
    {
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Every kind of message has a budget: each one costs a database write, an event or a log line.
        var healthBudget = new HealthBudget(HealthReportsPerWindow, HealthWindow);
        var ackBudget = new HealthBudget(AcksPerWindow, HealthWindow);
        var otherBudget = new HealthBudget(OtherMessagesPerWindow, HealthWindow);
        AgentMessage? deferred = null;
        var saidGoodbyeOnce = false;
        while (true)
        {
            silence.CancelAfter(SilenceTimeout);
            bool more;
            try
            {
                more = await requestStream.MoveNext(silence.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                wentSilent();
                return;
            }
            if (!more)
            {
                closed();
                return;
            }
            var message = requestStream.Current;
            if (deferred is not null && message.MessageCase is not (AgentMessage.MessageOneofCase.Ack or AgentMessage.MessageOneofCase.Nack) && ackBudget.TryTake(Environment.TickCount64))
            {
                await RecordAckOrNackAsync(connection, position, deferred, cancellationToken).ConfigureAwait(false);
                deferred = null;
            }
            switch (message.MessageCase)
            {
                case AgentMessage.MessageOneofCase.Ack or AgentMessage.MessageOneofCase.Nack when ackBudget.TryTake(Environment.TickCount64):
                    deferred = null;
                    await RecordAckOrNackAsync(connection, position, message, cancellationToken).ConfigureAwait(false);
                    break;
                case AgentMessage.MessageOneofCase.Ack or AgentMessage.MessageOneofCase.Nack:
                    // The newest outcome supersedes any older one still waiting.
                    deferred = message;
                    Throttled(connection, message.MessageCase, ackBudget, AcksPerWindow);
                    break;
                case AgentMessage.MessageOneofCase.Health when healthBudget.TryTake(Environment.TickCount64):
                    await agents.RecordHealthAsync(connection, message.Health, cancellationToken).ConfigureAwait(false);
                    break;
                case AgentMessage.MessageOneofCase.Health:
                    Throttled(connection, message.MessageCase, healthBudget, HealthReportsPerWindow);
                    break;
                case AgentMessage.MessageOneofCase.Goodbye when !saidGoodbyeOnce:
                    saidGoodbyeOnce = true;
                    saidGoodbye(LogText.Clip(message.Goodbye.Reason, 200));
                    break;
                default:
                    // Nothing an agent sends (or a second Goodbye): ignored, logged once per window.
                    if (!otherBudget.TryTake(Environment.TickCount64))
                    {
                        Throttled(connection, message.MessageCase, otherBudget, OtherMessagesPerWindow);
                    }
                    else if (otherBudget.Taken == 1)
                    {
                        Log.UnexpectedMessage(logger, connection.Name, message.MessageCase.ToString());
                    }
                    break;
            }
        }
    }

    private Task RecordAckOrNackAsync(AgentConnection connection, StreamPosition position, AgentMessage message, CancellationToken cancellationToken)
    {
        // Within the ack budget only: an agent asking for whole snapshots in a loop gets at most that many.
        if (message.MessageCase == AgentMessage.MessageOneofCase.Ack)
        {
            position.Acked(message.Ack.SnapshotHash);
            return agents.RecordAckAsync(connection, message.Ack, cancellationToken);
        }
        if (message.Nack.WantsSnapshot)
        {
            Log.SnapshotWanted(logger, connection.Name, message.Nack.Revision, LogText.Clip(message.Nack.Error, 200));
            position.WantSnapshot();
        }
        return agents.RecordNackAsync(connection, message.Nack, cancellationToken);
    }

    private void Throttled(AgentConnection connection, AgentMessage.MessageOneofCase kind, HealthBudget budget, int perWindow)
    {
        metrics.AgentMessagesThrottled.WithLabels(connection.Tier, kind.ToString().ToLowerInvariant()).Inc();
        if (budget.Dropped == 1)
        {
            Log.Throttled(logger, connection.Name, kind.ToString(), perWindow, HealthWindow.TotalSeconds);
        }
    }

    private async Task SendAsync(IServerStreamWriter<ControlPlaneMessage> responseStream, AgentConnection connection, Hello hello, StreamPosition position, CancellationToken cancellationToken)
    {
        var knownHash = hello.SnapshotHash;
        // Revisions compare only within one database history: an agent of another epoch (the
        // database was restored since, or its cache predates epochs) takes the current snapshot
        // even if its own revision is higher, else it would ignore every write until the
        // restored database's revision passed its own.
        var knownRevision = hello.Epoch == epoch.Value ? hello.Revision : 0;
        if (hello.Epoch != epoch.Value && hello.Revision > 0)
        {
            Log.OtherEpoch(logger, connection.Name, hello.Revision, hello.Epoch.Length == 0 ? "none" : LogText.Clip(hello.Epoch, 64));
        }
        // Right after a start the tier may not be compiled yet: wait for its first snapshot, so an
        // agent that already has it gets a Bookmark (and is counted as in step) rather than silence.
        var current = snapshots.Get(connection.Tier) ?? await snapshots.WaitForChangeAsync(connection.Tier, null, cancellationToken).ConfigureAwait(false);
        if (current.Hash == knownHash)
        {
            // Resumed: the agent already has this tier's content.
            await WriteAsync(responseStream, connection, new ControlPlaneMessage { Bookmark = new Bookmark { Revision = current.Revision, Hash = current.Hash } }, cancellationToken).ConfigureAwait(false);
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            var next = snapshots.WaitForChangeAsync(connection.Tier, knownHash, cancellationToken);
            var wanted = position.SnapshotWanted;
            var tick = Task.Delay(KeepAliveInterval, cancellationToken);
            var first = await Task.WhenAny(next, tick, wanted).ConfigureAwait(false);
            if (first == tick)
            {
                await tick.ConfigureAwait(false);
                await WriteAsync(responseStream, connection, new ControlPlaneMessage { KeepAlive = new KeepAlive { SentAt = Timestamp.FromDateTime(DateTime.UtcNow) } }, cancellationToken).ConfigureAwait(false);
                agents.Touch(connection);
                continue;
            }

            TierSnapshot snapshot;
            if (first == wanted && !next.IsCompleted)
            {
                // A delta did not apply: the whole current snapshot, whatever the agent was sent last.
                position.SnapshotSent();
                snapshot = snapshots.Get(connection.Tier) ?? current;
                knownHash = snapshot.Hash;
                knownRevision = Math.Max(knownRevision, snapshot.Revision);
                await WriteAsync(responseStream, connection, snapshot.Message, cancellationToken).ConfigureAwait(false);
                continue;
            }

            snapshot = await next.ConfigureAwait(false);
            knownHash = snapshot.Hash;
            if (snapshot.Revision < knownRevision)
            {
                // Never move an agent backwards; it keeps what it has until something newer exists.
                continue;
            }
            knownRevision = snapshot.Revision;
            await WriteAsync(responseStream, connection, position.Choose(snapshot), cancellationToken).ConfigureAwait(false);
        }
    }

    private Task WriteAsync(IServerStreamWriter<ControlPlaneMessage> responseStream, AgentConnection connection, ControlPlaneMessage message, CancellationToken cancellationToken)
    {
        if (message.MessageCase != ControlPlaneMessage.MessageOneofCase.KeepAlive)
        {
            var kind = message.MessageCase switch
            {
                ControlPlaneMessage.MessageOneofCase.Snapshot => "snapshot",
                ControlPlaneMessage.MessageOneofCase.Delta => "delta",
                _ => "bookmark",
            };
            metrics.SyncMessagesSent.WithLabels(connection.Tier, kind).Inc();
            metrics.SyncBytesSent.WithLabels(connection.Tier, kind).Inc(message.CalculateSize());
        }
        return responseStream.WriteAsync(message, cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Agent {Agent} sent an unexpected {Message}")]
        public static partial void UnexpectedMessage(ILogger logger, string agent, string message);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Agent {Agent} serves revision {Revision} of database epoch {Epoch}, not this one (a restore?): it gets the current snapshot whatever its revision")]
        public static partial void OtherEpoch(ILogger logger, string agent, long revision, string epoch);

        [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "Agent {Agent} could not apply the delta to revision {Revision} and asks for the whole snapshot: {Reason}")]
        public static partial void SnapshotWanted(ILogger logger, string agent, long revision, string reason);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Agent {Agent} sends more than {Count} {Kind} messages per {Seconds} s; the excess is throttled")]
        public static partial void Throttled(ILogger logger, string agent, string kind, int count, double seconds);
    }
}

/// <summary>
/// What one stream's agent holds as far as it said (its Hello, then each ACK), and whether it
/// asked for a whole snapshot. A delta goes only to an agent whose acknowledged snapshot is the
/// delta's base; anything else (an ACK still on its way, a NACK, another epoch) gets the snapshot.
/// </summary>
internal sealed class StreamPosition(bool acceptsDeltas, string? acked)
{
    private readonly object _gate = new();
    private string? _acked = acked;
    private TaskCompletionSource _wanted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Acked(string hash)
    {
        lock (_gate)
        {
            _acked = hash;
        }
    }

    /// <summary>Completes when the agent asks for a whole snapshot.</summary>
    public Task SnapshotWanted
    {
        get
        {
            lock (_gate)
            {
                return _wanted.Task;
            }
        }
    }

    public void WantSnapshot()
    {
        TaskCompletionSource wanted;
        lock (_gate)
        {
            wanted = _wanted;
        }
        wanted.TrySetResult();
    }

    /// <summary>A whole snapshot is on its way: a new request waits for the next failure.</summary>
    public void SnapshotSent()
    {
        lock (_gate)
        {
            if (_wanted.Task.IsCompleted)
            {
                _wanted = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>The delta when this agent holds its base, else the whole snapshot.</summary>
    public ControlPlaneMessage Choose(TierSnapshot snapshot)
    {
        lock (_gate)
        {
            if (_wanted.Task.IsCompleted)
            {
                _wanted = new(TaskCreationOptions.RunContinuationsAsynchronously);
                return snapshot.Message;
            }
            return acceptsDeltas && snapshot.Delta is { } delta && string.Equals(snapshot.DeltaBase, _acked, StringComparison.Ordinal)
                ? delta
                : snapshot.Message;
        }
    }
}

/// <summary>
/// A fixed-window budget: at most <paramref name="perWindow"/> takes per window. Times are
/// milliseconds from any monotonic clock, given by the caller so tests need no clock.
/// </summary>
internal sealed class HealthBudget(int perWindow, TimeSpan window)
{
    private long _windowStart = long.MinValue;
    private int _taken;

    /// <summary>Takes granted in the current window.</summary>
    public int Taken => _taken;

    /// <summary>Reports refused in the current window (1 on the first refusal: the moment to log once).</summary>
    public int Dropped { get; private set; }

    public bool TryTake(long nowMs)
    {
        if (_windowStart == long.MinValue || nowMs - _windowStart >= (long)window.TotalMilliseconds)
        {
            _windowStart = nowMs;
            _taken = 0;
            Dropped = 0;
        }
        if (_taken < perWindow)
        {
            _taken++;
            return true;
        }
        Dropped++;
        return false;
    }
}
