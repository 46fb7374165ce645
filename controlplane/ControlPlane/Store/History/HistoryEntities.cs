using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>
/// The stored state of one resource as a write left it, at that write's revision, or a
/// tombstone when the write deleted it. Revision R of the configuration is, per (kind, name),
/// the newest row at or below R that is not a tombstone.
/// </summary>
public sealed class ResourceHistoryEntity
{
    public long Revision { get; set; }

    /// <summary>A <see cref="ResourceKind"/> name: Pool, Backend, Listener, Certificate.</summary>
    public string Kind { get; set; } = "";

    public string Name { get; set; } = "";
    public bool Deleted { get; set; }
    public string Uid { get; set; } = "";
    public long Generation { get; set; }
    public DateTime CreatedAt { get; set; }
    public string LabelsJson { get; set; } = "{}";
    public string SpecJson { get; set; } = "{}";

    /// <summary>
    /// What the row needs besides its spec to come back exactly, as stored (never decrypted
    /// here): a pool's sealed session key, a certificate's sealed private key; empty otherwise.
    /// </summary>
    public byte[] Sealed { get; set; } = [];
}

/// <summary>The single-row history horizon (Id is always 1): revisions below it were compacted.</summary>
public sealed class HistoryHorizonEntity
{
    public int Id { get; set; }
    public long OldestKept { get; set; }
}

internal sealed class ResourceHistoryConfiguration : IEntityTypeConfiguration<ResourceHistoryEntity>
{
    public void Configure(EntityTypeBuilder<ResourceHistoryEntity> e)
    {
        e.ToTable("ResourceHistory");
        // One row per resource per revision; the key also serves "newest at or below R" lookups.
        e.HasKey(x => new { x.Kind, x.Name, x.Revision });
        e.HasIndex(x => x.Revision);
    }
}

internal sealed class HistoryHorizonConfiguration : IEntityTypeConfiguration<HistoryHorizonEntity>
{
    public void Configure(EntityTypeBuilder<HistoryHorizonEntity> e)
    {
        e.ToTable("HistoryHorizon");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).ValueGeneratedNever();
    }
}
