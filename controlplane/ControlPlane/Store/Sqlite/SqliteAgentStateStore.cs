using LoadBalancer.ControlPlane.Access;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

public sealed class SqliteAgentStateStore(IDbContextFactory<LbDbContext> dbFactory) : IAgentStateStore
{
    public Task<string?> TierOfAsync(string agent, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return await db.Agents.Where(a => a.Name == agent).Select(a => a.Tier).SingleOrDefaultAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task<int> CountInTierAsync(string tier, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return await db.Agents.CountAsync(a => a.Tier == tier, cancellationToken).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<(string Name, bool Connected)>> AgentsOfTierAsync(string tier, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var rows = await db.Agents.Where(a => a.Tier == tier).OrderBy(a => a.LastSeen).Select(a => new { a.Name, a.Connected }).ToListAsync(cancellationToken).ConfigureAwait(false);
        return (IReadOnlyList<(string, bool)>)rows.Select(r => (r.Name, r.Connected)).ToList();
    });

    public Task<IReadOnlyList<string>> DisconnectedBeforeAsync(DateTime cutoff, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return (IReadOnlyList<string>)await db.Agents.Where(a => !a.Connected && a.LastSeen < cutoff).Select(a => a.Name).ToListAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task ForgetAsync(IReadOnlyCollection<string> agents, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        var names = agents.ToList();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await db.BackendHealth.Where(h => names.Contains(h.Agent)).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        await db.Agents.Where(a => names.Contains(a.Name) && !a.Connected).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task<long> DeleteAsync(string agent, bool dryRun, Caller caller, DateTime at, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var entity = await db.Agents.SingleOrDefaultAsync(a => a.Name == agent, cancellationToken).ConfigureAwait(false)
            ?? throw StoreErrors.NotFound(ResourceKind.Agent, agent);
        if (entity.Connected)
        {
            throw StoreErrors.AgentConnected(agent);
        }
        if (!dryRun)
        {
            db.Agents.Remove(entity);
            // Forgetting an agent is a write like any other: who did it, from where, in the same transaction.
            var revision = await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
            db.ChangeLog.Add(ResourceStore.AuditEntry(caller, revision, ResourceKind.Agent.ToString(), agent, "delete", 0, 0, at));
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        return await StoreRevision.GetAsync(db, cancellationToken).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<BackendHealthEntity>> HealthOfAsync(string agent, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        return (IReadOnlyList<BackendHealthEntity>)await db.BackendHealth.AsNoTracking().Where(h => h.Agent == agent).ToListAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task UpsertAsync(string agent, Action<AgentEntity> change, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var row = await db.Agents.SingleOrDefaultAsync(a => a.Name == agent, cancellationToken).ConfigureAwait(false);
        if (row is null)
        {
            row = new AgentEntity { Name = agent };
            db.Agents.Add(row);
        }
        change(row);
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task UpdateExistingAsync(IReadOnlyList<(string Agent, Action<AgentEntity> Change)> changes, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var names = changes.Select(c => c.Agent).ToList();
        var rows = await db.Agents.Where(a => names.Contains(a.Name)).ToDictionaryAsync(a => a.Name, StringComparer.Ordinal, cancellationToken).ConfigureAwait(false);
        foreach (var (agent, change) in changes)
        {
            if (rows.TryGetValue(agent, out var row))
            {
                change(row);
            }
        }
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task ReplaceHealthAsync(IReadOnlyList<(string Agent, IReadOnlyList<BackendHealthEntity> Rows)> views, CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        var names = views.Select(v => v.Agent).ToList();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Only agents still registered: a forgotten agent's view must not bring its rows back.
        var registered = (await db.Agents.Where(a => names.Contains(a.Name)).Select(a => a.Name).ToListAsync(cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        await db.BackendHealth.Where(h => names.Contains(h.Agent)).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        db.BackendHealth.AddRange(views.Where(v => registered.Contains(v.Agent)).SelectMany(v => v.Rows));
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    });

    public Task MarkAllDisconnectedAsync(CancellationToken cancellationToken = default) => SqliteFailures.Guard(async () =>
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        await db.Agents.Where(a => a.Connected).ExecuteUpdateAsync(s => s.SetProperty(a => a.Connected, false), cancellationToken).ConfigureAwait(false);
    });
}
