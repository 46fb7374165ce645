namespace LoadBalancer.ControlPlane.Store.History;

/// <summary>Builds history rows from store entities and back, copying sealed secrets as stored.</summary>
public static class HistoryRows
{
    public static ResourceHistoryEntity Of(ResourceKind kind, ResourceEntity entity, long revision) => new()
    {
        Revision = revision,
        Kind = kind.ToString(),
        Name = entity.Name,
        Uid = entity.Uid,
        Generation = entity.Generation,
        CreatedAt = entity.CreatedAt,
        LabelsJson = entity.LabelsJson,
        SpecJson = entity.SpecJson,
        Sealed = entity switch
        {
            PoolEntity pool => pool.SessionKey.ToArray(),
            CertificateEntity certificate => certificate.EncryptedPrivateKey.ToArray(),
            _ => [],
        },
    };

    public static ResourceHistoryEntity Tombstone(ResourceKind kind, string name, long revision) => new()
    {
        Revision = revision,
        Kind = kind.ToString(),
        Name = name,
        Deleted = true,
    };

    /// <summary>Appends to <paramref name="db"/> the state a write leaves each changed resource in; called inside the write's transaction.</summary>
    public static void Record(LbDbContext db, long revision, IEnumerable<AppliedResource> written)
    {
        ArgumentNullException.ThrowIfNull(db);
        foreach (var resource in written)
        {
            if (resource.Action != ApplyActions.Unchanged)
            {
                db.Set<ResourceHistoryEntity>().Add(Of(resource.Kind, resource.Entity, revision));
            }
        }
    }

    public static void RecordDelete(LbDbContext db, long revision, ResourceKind kind, string name)
    {
        ArgumentNullException.ThrowIfNull(db);
        db.Set<ResourceHistoryEntity>().Add(Tombstone(kind, name, revision));
    }
}
