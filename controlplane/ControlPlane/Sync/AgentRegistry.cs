using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// Records what each agent is and has applied: connected, last seen, applied revision, listener
/// outcomes, last NACK. Observed state, last writer wins, outside the revision and change log.
/// What changed on the way is handed to <see cref="AgentEvents"/>, which records the transitions.
/// </summary>
public sealed partial class AgentRegistry(IAgentStateStore store, TimeProvider time, Observability.ControlPlaneMetrics metrics, AgentEvents events,
    TierSnapshotCache snapshots, AgentRetention retention, AgentStateBuffer pending, ILogger<AgentRegistry> logger)
{
    /// <summary>Agents' pending state written per transaction by <see cref="FlushAsync"/>: bounds one transaction's size and time.</summary>
    private const int FlushBatch = 500;

    /// <summary>NACK errors and listener failure reasons are clipped to this many characters before they are logged or stored.</summary>
    public const int MaxErrorChars = 1024;

    // The stream currently speaking for each agent name; a newer stream supersedes an older one.
    private readonly ConcurrentDictionary<string, AgentConnection> _connections = new(StringComparer.Ordinal);

    // Check-then-claim of a name must be atomic, or two tiers racing for one name could both pass.
    private readonly SemaphoreSlim _claimGate = new(1, 1);

    // Agent rows are read, changed and saved by the bulk flush and by single-row writes: one at a
    // time, else a flush that read before a single-row write saves its older state over it.
    private readonly SemaphoreSlim _rowWrites = new(1, 1);

    // The (pool, backend) pairs of each published snapshot, computed once per snapshot.
    private readonly ConditionalWeakTable<TierSnapshot, HashSet<(string Pool, string Backend)>> _backendsOf = new();

    public int ConnectedCount(string tier) => _connections.Values.Count(c => c.Tier == tier);

    /// <summary>
    /// Each connected agent and whether the snapshot it last acknowledged is its tier's current
    /// one (compared by hash, as lbctl status does: revisions do not compare across a restore).
    /// </summary>
    public IReadOnlyList<(string Name, string Tier, bool InSync)> SyncStates() =>
        _connections.Values
            .Select(c => (c.Name, c.Tier, snapshots.Get(c.Tier) is not { } current || c.AckedHash == current.Hash))
            .ToList();

    public IReadOnlyCollection<string> ConnectedNames(string tier) => _connections.Values.Where(c => c.Tier == tier).Select(c => c.Name).ToList();

    /// <summary>
    /// Registers a new stream of the agent, superseding an older stream of the same name.
    /// </summary>
    /// <exception cref="AgentNameTakenException">The name belongs to an agent of another tier
    /// (connected now, or registered earlier and not deleted since): an agent's identity is bound
    /// to its tier, so a token of one tier cannot supersede or rewrite another tier's agent.</exception>
    public async Task<AgentConnection> ConnectAsync(Hello hello, string peer, CancellationToken cancellationToken)
    {
        var connection = new AgentConnection(hello.Name, hello.Tier) { AckedRevision = hello.Revision, AckedHash = hello.SnapshotHash, OpenedAt = time.GetUtcNow().UtcDateTime };
        var now = time.GetUtcNow().UtcDateTime;
        await _claimGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var heldBy = _connections.TryGetValue(hello.Name, out var live) ? live.Tier : await store.TierOfAsync(hello.Name, cancellationToken).ConfigureAwait(false);
            if (heldBy is { Length: > 0 } && heldBy != hello.Tier)
            {
                metrics.AgentsRefused.WithLabels(hello.Tier).Inc();
                Log.NameOfOtherTier(logger, hello.Name, hello.Tier, heldBy, peer);
                throw new AgentNameTakenException(hello.Name, heldBy);
            }
            if (heldBy is null)
            {
                await MakeRoomAsync(hello.Name, hello.Tier, cancellationToken).ConfigureAwait(false);
            }
            metrics.AgentsConnected.WithLabels(hello.Tier).Inc();
            if (_connections.TryGetValue(hello.Name, out var previous))
            {
                Log.Superseded(logger, hello.Name);
                await previous.Superseded.CancelAsync().ConfigureAwait(false);
            }
            _connections[hello.Name] = connection;
            await UpdateAsync(hello.Name, agent =>
            {
                agent.Tier = hello.Tier;
                agent.Connected = true;
                agent.ConnectedAt = now;
                agent.LastSeen = now;
                agent.SoftwareVersion = hello.SoftwareVersion;
                agent.Peer = peer;
                // What the agent's listeners did last (with what a superseded stream left pending): the base of the next ACK's events.
                connection.ListenerResults = agent.GetListenerResults();
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _claimGate.Release();
        }
        Log.Connected(logger, hello.Name, hello.Tier, peer, hello.Revision);
        await events.ConnectedAsync(hello.Name, hello.Tier, peer, hello.SoftwareVersion).ConfigureAwait(false);
        return connection;
    }

    public async Task RecordAckAsync(AgentConnection connection, Ack ack, CancellationToken cancellationToken)
    {
        metrics.Acked(connection.Tier, connection.AckedRevision, ack.Revision, connection.OpenedAt);
        connection.AckedRevision = Math.Max(connection.AckedRevision, ack.Revision);
        connection.AckedHash = ack.SnapshotHash;
        // Listener names come from the snapshot (DNS labels); anything longer is not one of ours.
        var results = ack.Listeners.Take(10_000)
            .Select(l => new ListenerResultRecord(LogText.Clip(l.Name, 63), l.Programmed, string.IsNullOrEmpty(l.Reason) ? null : LogText.Clip(l.Reason, MaxErrorChars), ack.Revision))
            .ToList();
        var before = connection.ListenerResults;
        connection.ListenerResults = results;
        // In memory: written in bulk by FlushAsync, shown at once through the overlay.
        var now = time.GetUtcNow().UtcDateTime;
        pending.Record(connection.Name, state => state with { LastSeen = now, Applied = new AppliedSnapshot(ack.Revision, ack.SnapshotHash, results) });
        await events.AckedAsync(connection.Name, before, results).ConfigureAwait(false);
        if (!SameOutcomes(before, results))
        {
            // Rare, and the base of the next transition's events: written now, so a crash before
            // the next flush cannot repeat an event at the next connect.
            await UpdateAsync(connection.Name, static _ => { }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool SameOutcomes(IReadOnlyList<ListenerResultRecord> before, IReadOnlyList<ListenerResultRecord> after) =>
        before.Count == after.Count && before.Zip(after).All(p => p.First.Name == p.Second.Name && p.First.Programmed == p.Second.Programmed && p.First.Reason == p.Second.Reason);

    public async Task RecordNackAsync(AgentConnection connection, Nack nack, CancellationToken cancellationToken)
    {
        // The agent's text, bounded and on one line: it is logged, stored and shown.
        var error = LogText.Clip(nack.Error, MaxErrorChars);
        Log.Nacked(logger, connection.Name, nack.Revision, error);
        metrics.Nacks.WithLabels(connection.Tier).Inc();
        var now = time.GetUtcNow().UtcDateTime;
        pending.Record(connection.Name, state => state with { LastSeen = now, LastNackError = $"revision {nack.Revision}: {error}" });
        await events.NackedAsync(connection.Name, nack.Revision, error).ConfigureAwait(false);
    }

    /// <summary>
    /// Records an agent's view of its backends: transitions update their rows, a full summary
    /// replaces every row of the agent. The agent batches and coalesces transitions, so a
    /// flapping backend costs at most one write per batch window.
    /// </summary>
    public async Task RecordHealthAsync(AgentConnection connection, HealthReport report, CancellationToken cancellationToken)
    {
        if (report.Backends.Count > 10_000)
        {
            Log.ReportTooLarge(logger, connection.Name, report.Backends.Count);
            return;
        }
        metrics.HealthReports.WithLabels(connection.Tier).Inc();
        report = OwnBackendsOnly(connection, report);
        var now = time.GetUtcNow().UtcDateTime;
        var view = pending.HealthOf(connection.Name);
        if (view is null)
        {
            // Once per agent while it reports: from then on the view in memory is the newest truth.
            var rows = await store.HealthOfAsync(connection.Name, cancellationToken).ConfigureAwait(false);
            view = pending.AddHealth(connection.Name, new AgentHealthView(rows));
        }
        var before = view.Apply(connection.Name, connection.Tier, report, now);
        pending.Record(connection.Name, state => state with { LastSeen = now });
        await events.HealthReportedAsync(connection.Name, connection.Tier, connection.AckedRevision, before, report, ConnectedNames).ConfigureAwait(false);
    }

    /// <summary>
    /// The part of a report about backends of the agent's own tier (its current snapshot): an
    /// agent has no view of other backends, so reports about them are forged or stale, and would
    /// fake events and health for pools it does not serve. The rest is dropped and counted.
    /// </summary>
    private HealthReport OwnBackendsOnly(AgentConnection connection, HealthReport report)
    {
        var snapshot = snapshots.Get(connection.Tier);
        var known = snapshot is null ? [] : _backendsOf.GetValue(snapshot, BackendsOf);
        var own = new HealthReport { Full = report.Full };
        own.Backends.AddRange(report.Backends.Where(b => known.Contains((b.Pool, b.Backend))));
        var ignored = report.Backends.Count - own.Backends.Count;
        if (ignored > 0)
        {
            metrics.ForeignHealthReports.WithLabels(connection.Tier).Inc(ignored);
            if (!connection.ForeignHealthLogged)
            {
                connection.ForeignHealthLogged = true;
                var first = report.Backends.First(b => !known.Contains((b.Pool, b.Backend)));
                Log.ForeignHealth(logger, connection.Name, connection.Tier, LogText.Clip(first.Pool, 63), LogText.Clip(first.Backend, 63));
            }
        }
        return own;
    }

    private static HashSet<(string Pool, string Backend)> BackendsOf(TierSnapshot snapshot)
    {
        var data = SnapshotData.Parser.ParseFrom(snapshot.Message.Snapshot.Payload);
        return data.Pools.SelectMany(p => p.Backends.Select(b => (p.Name, b.Name))).ToHashSet();
    }

    /// <summary>
    /// Forgets agents disconnected for longer than the retention's expiry, with their health
    /// rows. Returns how many were forgotten.
    /// </summary>
    public async Task<int> ExpireAsync(CancellationToken cancellationToken)
    {
        if (retention.Expiry <= TimeSpan.Zero)
        {
            return 0;
        }
        var cutoff = time.GetUtcNow().UtcDateTime - retention.Expiry;
        var expired = (await store.DisconnectedBeforeAsync(cutoff, cancellationToken).ConfigureAwait(false)).ToList();
        expired.RemoveAll(_connections.ContainsKey);
        if (expired.Count > 0)
        {
            await ForgetAsync(expired, cancellationToken).ConfigureAwait(false);
            Log.Expired(logger, expired.Count, retention.Expiry.TotalHours);
        }
        return expired.Count;
    }

    /// <summary>
    /// Keeps a tier within its row budget before a new name is registered: expired agents go
    /// first, then the one gone longest; when every agent of the tier is connected the new name
    /// is refused, so cycling names can neither grow the tables nor push out live agents.
    /// </summary>
    private async Task MakeRoomAsync(string name, string tier, CancellationToken cancellationToken)
    {
        if (await store.CountInTierAsync(tier, cancellationToken).ConfigureAwait(false) < retention.MaxAgentsPerTier)
        {
            return;
        }
        await ExpireAsync(cancellationToken).ConfigureAwait(false);
        var rows = await store.AgentsOfTierAsync(tier, cancellationToken).ConfigureAwait(false);
        if (rows.Count < retention.MaxAgentsPerTier)
        {
            return;
        }
        var gone = rows.Where(r => !r.Connected && !_connections.ContainsKey(r.Name)).Select(r => r.Name).Take(rows.Count - retention.MaxAgentsPerTier + 1).ToList();
        if (rows.Count - gone.Count >= retention.MaxAgentsPerTier)
        {
            metrics.AgentsRefused.WithLabels(tier).Inc();
            throw new AgentLimitException(name, tier, retention.MaxAgentsPerTier);
        }
        await ForgetAsync(gone, cancellationToken).ConfigureAwait(false);
        Log.Evicted(logger, string.Join(", ", gone), tier, retention.MaxAgentsPerTier, name);
    }

    private async Task ForgetAsync(List<string> names, CancellationToken cancellationToken)
    {
        // Their views in memory too, else what is not written yet would still be shown (and the flush skips them).
        foreach (var name in names)
        {
            if (pending.HealthOf(name) is { } view)
            {
                pending.ForgetHealth(name, view);
            }
        }
        await store.ForgetAsync(names, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The agent is alive (its stream took a keep-alive): in memory, written with the next flush.</summary>
    public void Touch(AgentConnection connection)
    {
        var now = time.GetUtcNow().UtcDateTime;
        pending.Record(connection.Name, state => state with { LastSeen = now });
    }

    /// <summary>
    /// Writes agents' pending observed state (<see cref="AgentStateBuffer"/>) in transactions of
    /// at most <see cref="FlushBatch"/> rows; what was recorded meanwhile waits for the next call.
    /// Returns how many agents' rows were written. Rows deleted meanwhile are not re-created.
    /// </summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        var written = 0;
        for (var rounds = pending.Count / FlushBatch + 1; rounds > 0; rounds--)
        {
            var batch = pending.Peek(FlushBatch);
            if (batch.Count == 0)
            {
                break;
            }
            await _rowWrites.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await store.UpdateExistingAsync(batch.Select(b => (b.Key, (Action<AgentEntity>)b.Value.ApplyTo)).ToList(), cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                // Kept in memory (and still shown): the next flush tries again.
                Log.FlushFailed(logger, batch.Count, ex.GetBaseException().Message);
                break;
            }
            finally
            {
                _rowWrites.Release();
            }
            foreach (var (name, state) in batch)
            {
                pending.Written(name, state);
            }
            written += batch.Count;
        }
        return written + await FlushHealthAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Replaces the rows of every agent whose health view changed with the view, one transaction
    /// per <see cref="FlushBatch"/> agents; views of agents no longer connected are then dropped.
    /// </summary>
    private async Task<int> FlushHealthAsync(CancellationToken cancellationToken)
    {
        var views = pending.Health;
        var written = 0;
        foreach (var batch in views.Where(v => v.Value.Dirty).Chunk(FlushBatch))
        {
            var copies = batch.Select(v => (Name: v.Key, View: v.Value, Copy: v.Value.Copy())).ToList();
            try
            {
                // Only agents still registered get rows: a forgotten agent's view must not bring its rows back.
                await store.ReplaceHealthAsync(copies.Select(c => (c.Name, c.Copy.Rows)).ToList(), cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                Log.FlushFailed(logger, copies.Count, ex.GetBaseException().Message);
                return written;
            }
            copies.ForEach(c => c.View.WrittenUpTo(c.Copy.Version));
            written += copies.Count;
        }
        foreach (var (name, view) in views)
        {
            if (!view.Dirty && !_connections.ContainsKey(name))
            {
                pending.ForgetHealth(name, view);
            }
        }
        return written;
    }

    /// <param name="reason">Why the stream ended, for the event.</param>
    /// <param name="clean">The agent left on purpose (Goodbye or half-close): AgentDisconnected, not AgentLost.</param>
    public async Task DisconnectAsync(AgentConnection connection, string reason = "the stream ended", bool clean = false)
    {
        metrics.AgentsConnected.WithLabels(connection.Tier).Dec();
        // Only the stream that still speaks for the agent may mark it disconnected.
        if (!_connections.TryRemove(new KeyValuePair<string, AgentConnection>(connection.Name, connection)))
        {
            return;
        }
        await UpdateAsync(connection.Name, agent =>
        {
            agent.Connected = false;
            agent.LastSeen = time.GetUtcNow().UtcDateTime;
        }, CancellationToken.None).ConfigureAwait(false);
        Log.Disconnected(logger, connection.Name, reason);
        if (clean)
        {
            await events.DisconnectedAsync(connection.Name, connection.Tier, reason).ConfigureAwait(false);
        }
        else
        {
            await events.LostAsync(connection.Name, connection.Tier, reason).ConfigureAwait(false);
        }
    }

    /// <summary>After a restart no stream is open, whatever the table says.</summary>
    public async Task MarkAllDisconnectedAsync(CancellationToken cancellationToken)
    {
        await store.MarkAllDisconnectedAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task UpdateAsync(string name, Action<AgentEntity> change, CancellationToken cancellationToken)
    {
        await _rowWrites.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // What is pending goes along, so that it never lands after (and over) this change.
            var unwritten = pending.Get(name);
            await store.UpsertAsync(name, agent =>
            {
                unwritten?.ApplyTo(agent);
                change(agent);
            }, cancellationToken).ConfigureAwait(false);
            if (unwritten is not null)
            {
                pending.Written(name, unwritten);
            }
        }
        catch (StoreUnavailableException ex)
        {
            // Observed state is best effort: the next report overwrites it anyway.
            Log.WriteFailed(logger, name, ex.GetBaseException().Message);
        }
        finally
        {
            _rowWrites.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Agent {Agent} (tier {Tier}) connected from {Peer}, serving revision {Revision}")]
        public static partial void Connected(ILogger logger, string agent, string tier, string peer, long revision);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Agent {Agent} disconnected: {Reason}")]
        public static partial void Disconnected(ILogger logger, string agent, string reason);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Agent {Agent} rejected revision {Revision}: {Error}")]
        public static partial void Nacked(ILogger logger, string agent, long revision, string error);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "A new stream of agent {Agent} supersedes the previous one")]
        public static partial void Superseded(ILogger logger, string agent);

        [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Agent {Agent} sent a health report of {Count} backends; ignored")]
        public static partial void ReportTooLarge(ILogger logger, string agent, int count);

        [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Refused a stream claiming agent {Agent} for tier {Tier} from {Peer}: that name belongs to an agent of tier {HeldBy} (delete the agent to free the name)")]
        public static partial void NameOfOtherTier(ILogger logger, string agent, string tier, string heldBy, string peer);

        [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Agent {Agent} (tier {Tier}) reports on backends its tier does not serve, such as {Pool}/{Backend}; those entries are ignored (counted in lb_controlplane_health_reports_ignored_total)")]
        public static partial void ForeignHealth(ILogger logger, string agent, string tier, string pool, string backend);

        [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "Forgot {Count} agents disconnected for more than {Hours:0.#} hours (--agent-expiry)")]
        public static partial void Expired(ILogger logger, int count, double hours);

        [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Forgot agents {Agents} of tier {Tier}, gone longest, to keep the tier within {Max} agents as {Agent} registers")]
        public static partial void Evicted(ILogger logger, string agents, string tier, int max, string agent);

        [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "Cannot write the observed state of {Count} agents; kept in memory and retried: {Reason}")]
        public static partial void FlushFailed(ILogger logger, int count, string reason);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Cannot record the state of agent {Agent}: {Reason}")]
        public static partial void WriteFailed(ILogger logger, string agent, string reason);
    }
}

/// <summary>One open sync stream of an agent.</summary>
public sealed class AgentConnection(string name, string tier)
{
    public string Name { get; } = name;

    public string Tier { get; } = tier;

    /// <summary>The newest revision this stream's agent has acknowledged (or announced in Hello).</summary>
    public long AckedRevision { get; set; }

    /// <summary>The hash of the snapshot this stream's agent last acknowledged (or announced in Hello).</summary>
    public string AckedHash { get; set; } = "";

    /// <summary>When the stream was opened (push-duration samples start after it).</summary>
    public DateTime OpenedAt { get; init; }

    /// <summary>Cancelled when a newer stream of the same agent takes over.</summary>
    public CancellationTokenSource Superseded { get; } = new();

    /// <summary>The listener outcomes of this agent's latest ACK (from its row at connect): what the next ACK's events compare with.</summary>
    internal IReadOnlyList<ListenerResultRecord> ListenerResults { get; set; } = [];

    /// <summary>Set once a report about another tier's backend was logged: one line per stream, not per report.</summary>
    internal bool ForeignHealthLogged { get; set; }
}

/// <summary>The tier already has as many agents as it may, all of them connected.</summary>
public sealed class AgentLimitException(string name, string tier, int max)
    : Exception($"tier {tier} already has {max} connected agents, the most it may have; agent {name} is not registered (delete agents that are gone, or raise the limit)");

/// <summary>The agent name is held by an agent of another tier.</summary>
public sealed class AgentNameTakenException(string name, string heldBy)
    : Exception($"agent name {name} belongs to an agent of tier {heldBy}; pick another name, or delete agent {name} to free it")
{
    public string Name { get; } = name;

    public string HeldBy { get; } = heldBy;
}
