using System.Collections.Concurrent;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// Records what each agent is and has applied: connected, last seen, applied revision, listener
/// outcomes, last NACK. Observed state, last writer wins, outside the revision and change log.
/// What changed on the way is handed to <see cref="AgentEvents"/>, which records the transitions.
/// </summary>
public sealed partial class AgentRegistry(IDbContextFactory<LbDbContext> dbFactory, TimeProvider time, Observability.ControlPlaneMetrics metrics, AgentEvents events, ILogger<AgentRegistry> logger)
{
    // The stream currently speaking for each agent name; a newer stream supersedes an older one.
    private readonly ConcurrentDictionary<string, AgentConnection> _connections = new(StringComparer.Ordinal);

    public int ConnectedCount(string tier) => _connections.Values.Count(c => c.Tier == tier);

    public IReadOnlyCollection<string> ConnectedNames(string tier) => _connections.Values.Where(c => c.Tier == tier).Select(c => c.Name).ToList();

    public async Task<AgentConnection> ConnectAsync(Hello hello, string peer, CancellationToken cancellationToken)
    {
        var connection = new AgentConnection(hello.Name, hello.Tier) { AckedRevision = hello.Revision, OpenedAt = time.GetUtcNow().UtcDateTime };
        metrics.AgentsConnected.WithLabels(hello.Tier).Inc();
        if (_connections.TryGetValue(hello.Name, out var previous))
        {
            Log.Superseded(logger, hello.Name);
            await previous.Superseded.CancelAsync().ConfigureAwait(false);
        }
        _connections[hello.Name] = connection;

        var now = time.GetUtcNow().UtcDateTime;
        await UpdateAsync(hello.Name, agent =>
        {
            agent.Tier = hello.Tier;
            agent.Connected = true;
            agent.ConnectedAt = now;
            agent.LastSeen = now;
            agent.SoftwareVersion = hello.SoftwareVersion;
            agent.Peer = peer;
        }, cancellationToken).ConfigureAwait(false);
        Log.Connected(logger, hello.Name, hello.Tier, peer, hello.Revision);
        await events.ConnectedAsync(hello.Name, hello.Tier, peer, hello.SoftwareVersion).ConfigureAwait(false);
        return connection;
    }

    public async Task RecordAckAsync(AgentConnection connection, Ack ack, CancellationToken cancellationToken)
    {
        metrics.Acked(connection.Tier, connection.AckedRevision, ack.Revision, connection.OpenedAt);
        connection.AckedRevision = Math.Max(connection.AckedRevision, ack.Revision);
        var results = ack.Listeners.Select(l => new ListenerResultRecord(l.Name, l.Programmed, string.IsNullOrEmpty(l.Reason) ? null : l.Reason, ack.Revision)).ToList();
        IReadOnlyList<ListenerResultRecord>? before = null;
        await UpdateAsync(connection.Name, agent =>
        {
            before = agent.GetListenerResults();
            agent.LastSeen = time.GetUtcNow().UtcDateTime;
            agent.AppliedRevision = ack.Revision;
            agent.AppliedHash = ack.SnapshotHash;
            agent.SetListenerResults(results);
        }, cancellationToken).ConfigureAwait(false);
        if (before is not null)
        {
            await events.AckedAsync(connection.Name, before, results).ConfigureAwait(false);
        }
    }

    public async Task RecordNackAsync(AgentConnection connection, Nack nack, CancellationToken cancellationToken)
    {
        Log.Nacked(logger, connection.Name, nack.Revision, nack.Error);
        metrics.Nacks.WithLabels(connection.Tier).Inc();
        await UpdateAsync(connection.Name, agent =>
        {
            agent.LastSeen = time.GetUtcNow().UtcDateTime;
            agent.LastNackError = $"revision {nack.Revision}: {nack.Error}";
        }, cancellationToken).ConfigureAwait(false);
        await events.NackedAsync(connection.Name, nack.Revision, nack.Error).ConfigureAwait(false);
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
        var now = time.GetUtcNow().UtcDateTime;
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            var rows = await db.BackendHealth.Where(h => h.Agent == connection.Name).ToListAsync(cancellationToken).ConfigureAwait(false);
            var byKey = rows.ToDictionary(r => (r.Pool, r.Backend));
            var before = rows.ToDictionary(r => (r.Pool, r.Backend), r => r.State);
            var reported = new HashSet<(string, string)>();
            foreach (var backend in report.Backends)
            {
                var key = (backend.Pool, backend.Backend);
                if (!reported.Add(key))
                {
                    continue;
                }
                if (!byKey.TryGetValue(key, out var row))
                {
                    row = new BackendHealthEntity { Agent = connection.Name, Pool = backend.Pool, Backend = backend.Backend };
                    db.BackendHealth.Add(row);
                }
                row.Tier = connection.Tier;
                row.State = AgentEvents.Normalize(backend.State);
                row.Reason = backend.Reason.Length > 256 ? backend.Reason[..256] : backend.Reason;
                row.Since = backend.ObservedAt?.ToDateTime() ?? now;
                row.InFlight = backend.InFlight;
                row.ReportedAt = now;
            }
            if (report.Full)
            {
                db.BackendHealth.RemoveRange(rows.Where(r => !reported.Contains((r.Pool, r.Backend))));
            }
            var agent = await db.Agents.SingleOrDefaultAsync(a => a.Name == connection.Name, cancellationToken).ConfigureAwait(false);
            if (agent is not null)
            {
                agent.LastSeen = now;
            }
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            await events.HealthReportedAsync(connection.Name, connection.Tier, connection.AckedRevision, before, report, ConnectedNames).ConfigureAwait(false);
        }
        catch (DbUpdateException ex)
        {
            Log.WriteFailed(logger, connection.Name, ex.GetBaseException().Message);
        }
    }

    public Task TouchAsync(AgentConnection connection, CancellationToken cancellationToken) =>
        UpdateAsync(connection.Name, agent => agent.LastSeen = time.GetUtcNow().UtcDateTime, cancellationToken);

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
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await db.Agents.Where(a => a.Connected).ExecuteUpdateAsync(s => s.SetProperty(a => a.Connected, false), cancellationToken).ConfigureAwait(false);
    }

    private async Task UpdateAsync(string name, Action<AgentEntity> change, CancellationToken cancellationToken)
    {
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            var agent = await db.Agents.SingleOrDefaultAsync(a => a.Name == name, cancellationToken).ConfigureAwait(false);
            if (agent is null)
            {
                agent = new AgentEntity { Name = name };
                db.Agents.Add(agent);
            }
            change(agent);
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException ex)
        {
            // Observed state is best effort: the next report overwrites it anyway.
            Log.WriteFailed(logger, name, ex.GetBaseException().Message);
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

    /// <summary>When the stream was opened (push-duration samples start after it).</summary>
    public DateTime OpenedAt { get; init; }

    /// <summary>Cancelled when a newer stream of the same agent takes over.</summary>
    public CancellationTokenSource Superseded { get; } = new();
}
