using Google.Rpc;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Hosting;
using LoadBalancer.ControlPlane.Management;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Snapshots;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// A real SQLite file in a temp folder with the real migrations applied, plus the store,
/// compiler and management service wired as in production (fixed clock).
/// </summary>
internal sealed class StoreFixture : IAsyncDisposable
{
    private sealed class Factory(string connectionString) : IDbContextFactory<LbDbContext>
    {
        public LbDbContext CreateDbContext()
        {
            var builder = new DbContextOptionsBuilder<LbDbContext>();
            StoreServiceExtensions.ConfigureSqlite(builder, connectionString);
            return new LbDbContext(builder.Options);
        }
    }

    private StoreFixture(string directory)
    {
        Directory = directory;
        DbFactory = new Factory(StoreServiceExtensions.BuildConnectionString(Path.Combine(directory, "lb.db")));
        Secrets = new SecretProtector(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        Clock = new FixedTimeProvider(DateTimeOffset.UtcNow);
        Feed = new StoreChangeFeed();
        Store = new ResourceStore(DbFactory, Feed, Secrets, Clock, NullLogger<ResourceStore>.Instance);
        Compiler = new SnapshotCompiler(Secrets);
        TierStatus = new FakeTierStatusSource();
        Reader = new SqliteStoreReader(DbFactory);
        AgentRows = new SqliteAgentStateStore(DbFactory);
        Tokens = new SqliteTokenStore(DbFactory);
        Events = new SqliteEventStore(DbFactory);
        Service = new ManagementService(Store, Reader, AgentRows, TierStatus, new NoAgentStateOverlay(), Clock);
    }

    public string Directory { get; }
    public IDbContextFactory<LbDbContext> DbFactory { get; }
    public SecretProtector Secrets { get; }
    public FixedTimeProvider Clock { get; }
    public StoreChangeFeed Feed { get; }
    public ResourceStore Store { get; }
    public IStoreReader Reader { get; }
    public IAgentStateStore AgentRows { get; }
    public ITokenStore Tokens { get; }
    public IEventStore Events { get; }
    public SnapshotCompiler Compiler { get; }
    public FakeTierStatusSource TierStatus { get; }
    public ManagementService Service { get; }
    public ServerCallContext Context { get; } = new TestServerCallContext();

    public static async Task<StoreFixture> CreateAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "lb-cp-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var fixture = new StoreFixture(directory);
        await using var db = await fixture.DbFactory.CreateDbContextAsync();
        await db.Database.MigrateAsync();
        return fixture;
    }

    public async Task<long> RevisionAsync()
    {
        await using var db = await DbFactory.CreateDbContextAsync();
        return await StoreRevision.GetAsync(db);
    }

    public async Task<T> WithDbAsync<T>(Func<LbDbContext, Task<T>> action)
    {
        await using var db = await DbFactory.CreateDbContextAsync();
        return await action(db);
    }

    public async Task AddAgentAsync(string name, string tier, bool connected, long appliedRevision, params ListenerResultRecord[] results)
    {
        await using var db = await DbFactory.CreateDbContextAsync();
        var agent = new AgentEntity
        {
            Name = name,
            Tier = tier,
            Connected = connected,
            ConnectedAt = connected ? Clock.GetUtcNow().UtcDateTime : null,
            LastSeen = Clock.GetUtcNow().UtcDateTime,
            SoftwareVersion = "test",
            AppliedRevision = appliedRevision,
            AppliedHash = "hash-" + appliedRevision,
        };
        agent.SetListenerResults(results);
        db.Agents.Add(agent);
        await db.SaveChangesAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await Task.Yield();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does not affect the result.
        }
    }
}

internal sealed class FakeTierStatusSource : ITierStatusSource
{
    public Dictionary<string, (long Revision, string Hash)> Tiers { get; } = [];

    public (long Revision, string Hash)? Get(string tier) => Tiers.TryGetValue(tier, out var value) ? value : null;

    public Dictionary<(string Tier, string Hash), LoadBalancer.Api.V1.SnapshotData> Snapshots { get; } = [];

    public LoadBalancer.Api.V1.SnapshotData? Find(string tier, string hash) => Snapshots.GetValueOrDefault((tier, hash));
}

internal static class RpcAssert
{
    /// <summary>Asserts an INVALID_ARGUMENT carrying a BadRequest violation for <paramref name="field"/>; returns its description.</summary>
    public static async Task<string> FieldViolationAsync(Func<Task> action, string field)
    {
        var ex = await ThrowsRpcAsync(action);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        var violations = Violations(ex);
        var match = violations.FirstOrDefault(v => v.Field == field);
        Assert.True(match is not null, $"expected a violation of {field}; got: {string.Join("; ", violations.Select(v => $"{v.Field}: {v.Description}"))}");
        Assert.Contains(field, ex.Status.Detail, StringComparison.Ordinal);
        return match.Description;
    }

    public static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException ex)
    {
        var status = ex.GetRpcStatus();
        Assert.NotNull(status);
        var badRequest = status.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return badRequest.FieldViolations;
    }

    public static async Task<RpcException> StatusAsync(Func<Task> action, StatusCode code)
    {
        var ex = await ThrowsRpcAsync(action);
        Assert.Equal(code, ex.StatusCode);
        return ex;
    }

    /// <summary>
    /// The status the call fails with. A service or the store called directly skips the
    /// interceptor that maps refusals to statuses at the API edge, so they are mapped here by the
    /// same code; anything that is not a refusal fails the assertion, as before.
    /// </summary>
    private static async Task<RpcException> ThrowsRpcAsync(Func<Task> action)
    {
        var thrown = await Assert.ThrowsAnyAsync<Exception>(action);
        var ex = RpcErrors.ToRpcException(thrown);
        Assert.True(ex is not null, $"expected a refusal (RpcException, StoreException or ValidationException), got {thrown}");
        return ex;
    }
}
