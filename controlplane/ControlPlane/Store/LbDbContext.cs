using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace LoadBalancer.ControlPlane.Store;

public sealed class LbDbContext(DbContextOptions<LbDbContext> options) : DbContext(options)
{
    public DbSet<PoolEntity> Pools => Set<PoolEntity>();
    public DbSet<BackendEntity> Backends => Set<BackendEntity>();
    public DbSet<ListenerEntity> Listeners => Set<ListenerEntity>();
    public DbSet<CertificateEntity> Certificates => Set<CertificateEntity>();
    public DbSet<RevisionEntity> Revision => Set<RevisionEntity>();
    public DbSet<ChangeLogEntry> ChangeLog => Set<ChangeLogEntry>();
    public DbSet<AgentEntity> Agents => Set<AgentEntity>();
    public DbSet<BackendHealthEntity> BackendHealth => Set<BackendHealthEntity>();
    public DbSet<TokenEntity> Tokens => Set<TokenEntity>();
    public DbSet<EventEntity> Events => Set<EventEntity>();
    public DbSet<History.ResourceHistoryEntity> ResourceHistory => Set<History.ResourceHistoryEntity>();
    public DbSet<History.HistoryHorizonEntity> HistoryHorizon => Set<History.HistoryHorizonEntity>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite keeps no DateTimeKind; every timestamp in the store is UTC.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<NullableUtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<PoolEntity>(e =>
        {
            e.ToTable("Pools");
            e.HasKey(x => x.Name);
        });
        modelBuilder.Entity<BackendEntity>(e =>
        {
            e.ToTable("Backends");
            e.HasKey(x => x.Name);
            e.HasIndex(x => x.Pool);
        });
        modelBuilder.Entity<ListenerEntity>(e =>
        {
            e.ToTable("Listeners");
            e.HasKey(x => x.Name);
            e.HasIndex(x => new { x.Tier, x.Port }).IsUnique();
        });
        modelBuilder.Entity<CertificateEntity>(e =>
        {
            e.ToTable("Certificates");
            e.HasKey(x => x.Name);
        });
        modelBuilder.Entity<RevisionEntity>(e =>
        {
            e.ToTable("Revision");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedNever();
            e.HasData(new RevisionEntity { Id = 1, Value = 0 });
        });
        modelBuilder.Entity<ChangeLogEntry>(e =>
        {
            e.ToTable("ChangeLog");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => x.Revision);
            e.HasIndex(x => new { x.Kind, x.Name });
        });
        modelBuilder.Entity<TokenEntity>(e =>
        {
            e.ToTable("Tokens");
            e.HasKey(x => x.Id);
        });
        modelBuilder.Entity<AgentEntity>(e =>
        {
            e.ToTable("Agents");
            e.HasKey(x => x.Name);
            e.HasIndex(x => x.Tier);
        });
        modelBuilder.Entity<BackendHealthEntity>(e =>
        {
            e.ToTable("BackendHealth");
            e.HasKey(x => new { x.Agent, x.Pool, x.Backend });
            e.HasIndex(x => new { x.Pool, x.Backend });
        });
        modelBuilder.Entity<EventEntity>(e =>
        {
            e.ToTable("Events");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.Kind, x.Name });
            e.HasIndex(x => x.Agent);
            e.HasIndex(x => x.LastAt);
        });
        modelBuilder.ApplyConfiguration(new History.ResourceHistoryConfiguration());
        modelBuilder.ApplyConfiguration(new History.HistoryHorizonConfiguration());
    }

    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

    private sealed class NullableUtcDateTimeConverter() : ValueConverter<DateTime?, DateTime?>(
        v => v.HasValue ? (v.Value.Kind == DateTimeKind.Utc ? v.Value : v.Value.ToUniversalTime()) : v,
        v => v.HasValue ? DateTime.SpecifyKind(v.Value, DateTimeKind.Utc) : v);
}
