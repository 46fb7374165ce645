using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>Columns shared by every user-written resource (metadata plus the spec as protobuf JSON).</summary>
public abstract class ResourceEntity
{
    public string Name { get; set; } = "";
    public string Uid { get; set; } = "";

    /// <summary>The global revision of the last write of this resource (optimistic concurrency token).</summary>
    public long ResourceVersion { get; set; }

    /// <summary>Bumped only when the spec changes.</summary>
    public long Generation { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public string LabelsJson { get; set; } = "{}";

    /// <summary>The proto spec in protobuf JSON form; never holds a private key.</summary>
    public string SpecJson { get; set; } = "{}";
}

public sealed class PoolEntity : ResourceEntity
{
    public const int SessionKeySize = 32;

    /// <summary>
    /// 32 random bytes made on create, with which the agents of a tier sign persistence cookies;
    /// stored sealed under the key-encryption key (a bare 32-byte value is one written before
    /// keys were sealed, sealed at the next start).
    /// </summary>
    public byte[] SessionKey { get; set; } = [];

    public bool SessionKeyIsSealed => SessionKey.Length != SessionKeySize;
}

public sealed class BackendEntity : ResourceEntity
{
    public string Pool { get; set; } = "";
}

public sealed class ListenerEntity : ResourceEntity
{
    public string Tier { get; set; } = "";
    public int Port { get; set; }
}

public sealed class CertificateEntity : ResourceEntity
{
    /// <summary>The private key PEM sealed by <see cref="Security.SecretProtector"/> with the certificate name as associated data.</summary>
    public byte[] EncryptedPrivateKey { get; set; } = [];

    public string Subject { get; set; } = "";
    public string DnsNamesJson { get; set; } = "[]";
    public string Issuer { get; set; } = "";
    public DateTime NotBefore { get; set; }
    public DateTime NotAfter { get; set; }

    /// <summary>Lowercase hex SHA-256 of the leaf certificate's DER bytes.</summary>
    public string FingerprintSha256 { get; set; } = "";
}

/// <summary>The single-row global revision counter (Id is always 1).</summary>
public sealed class RevisionEntity
{
    public int Id { get; set; }
    public long Value { get; set; }

    /// <summary>
    /// Names this database's history of revisions; a restore starts a new one. Revisions of
    /// different epochs are not comparable: a restored database counts again from a lower
    /// revision, and agents must take its snapshots although their own revision is higher.
    /// </summary>
    public string Epoch { get; set; } = "";
}

public sealed class ChangeLogEntry
{
    public long Id { get; set; }
    public long Revision { get; set; }
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";

    /// <summary>create | update | delete (resources); create | revoke (tokens).</summary>
    public string Operation { get; set; } = "";

    public DateTime At { get; set; }

    // The audit trail: who made the change and which versions it moved between.
    public string ActorTokenId { get; set; } = "";
    public string ActorRole { get; set; } = "";
    public string Peer { get; set; } = "";
    public long OldResourceVersion { get; set; }
    public long NewResourceVersion { get; set; }
}

/// <summary>
/// An API token. Only a SHA-256 hash of its secret is stored: the secret is 256 random bits,
/// so a fast hash is enough (nothing to brute-force) and lookups stay cheap.
/// </summary>
public sealed class TokenEntity
{
    public string Id { get; set; } = "";
    public byte[] SecretHash { get; set; } = [];

    /// <summary>admin | viewer | agent</summary>
    public string Role { get; set; } = "";

    /// <summary>The one tier an agent token may sync; empty for other roles.</summary>
    public string Tier { get; set; } = "";

    public string Description { get; set; } = "";
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    public DateTime? LastUsedAt { get; set; }
}

/// <summary>
/// Observed state of one agent, written by the sync service (last writer wins, outside the
/// revision and change log). The management API only reads and deletes these rows.
/// </summary>
public sealed class AgentEntity
{
    public string Name { get; set; } = "";
    public string Tier { get; set; } = "";
    public bool Connected { get; set; }
    public DateTime? ConnectedAt { get; set; }
    public DateTime LastSeen { get; set; }
    public string SoftwareVersion { get; set; } = "";
    public string Peer { get; set; } = "";
    public long AppliedRevision { get; set; }
    public string AppliedHash { get; set; } = "";
    public string? LastNackError { get; set; }

    /// <summary>JSON array of <see cref="ListenerResultRecord"/>; use <see cref="GetListenerResults"/> / <see cref="SetListenerResults"/>.</summary>
    public string ListenerResultsJson { get; set; } = "[]";

    public IReadOnlyList<ListenerResultRecord> GetListenerResults()
    {
        if (string.IsNullOrWhiteSpace(ListenerResultsJson))
        {
            return [];
        }
        return JsonSerializer.Deserialize(ListenerResultsJson, StoreJsonContext.Default.ListListenerResultRecord) ?? [];
    }

    public void SetListenerResults(IEnumerable<ListenerResultRecord> results)
    {
        ListenerResultsJson = JsonSerializer.Serialize(results.ToList(), StoreJsonContext.Default.ListListenerResultRecord);
    }
}

/// <summary>
/// One agent's view of one backend's health (observed state: last writer wins, outside the
/// revision and change log). A full report from the agent replaces all of its rows.
/// </summary>
public sealed class BackendHealthEntity
{
    public string Agent { get; set; } = "";
    public string Pool { get; set; } = "";
    public string Backend { get; set; } = "";
    public string Tier { get; set; } = "";

    /// <summary>unknown | healthy | unhealthy</summary>
    public string State { get; set; } = "unknown";

    public string Reason { get; set; } = "";
    public DateTime Since { get; set; }
    public long InFlight { get; set; }
    public DateTime ReportedAt { get; set; }
}

/// <summary>
/// One recorded event (observed state, outside the revision and change log, bounded in number
/// and age). A repeat folded into it is written as a new row with a higher id and the old row
/// removed, so that watchers resuming after an id see the new count.
/// </summary>
public sealed class EventEntity
{
    public long Id { get; set; }

    /// <summary>Normal | Warning</summary>
    public string Type { get; set; } = "";

    public string Reason { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";

    /// <summary>The agent that saw it; empty when no single agent did.</summary>
    public string Agent { get; set; } = "";

    public string Message { get; set; } = "";
    public int Count { get; set; }
    public DateTime FirstAt { get; set; }
    public DateTime LastAt { get; set; }
}

/// <summary>What one agent reported for one listener at the revision it acknowledged.</summary>
public sealed record ListenerResultRecord(string Name, bool Programmed, string? Reason, long Revision);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(List<ListenerResultRecord>))]
[JsonSerializable(typeof(SortedDictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
