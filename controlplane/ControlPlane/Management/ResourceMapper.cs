using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>Entity to proto mapping (metadata and spec); statuses are filled by <see cref="StatusBuilder"/>.</summary>
internal static class ResourceMapper
{
    public static ObjectMeta ToMetadata(ResourceEntity entity)
    {
        var metadata = new ObjectMeta
        {
            Name = entity.Name,
            Uid = entity.Uid,
            ResourceVersion = entity.ResourceVersion,
            Generation = entity.Generation,
            CreatedAt = Timestamp.FromDateTime(entity.CreatedAt),
            UpdatedAt = Timestamp.FromDateTime(entity.UpdatedAt),
        };
        metadata.Labels.Add(ResourceStore.LabelsFromJson(entity.LabelsJson));
        return metadata;
    }

    public static Pool ToPool(PoolEntity entity) =>
        new() { Metadata = ToMetadata(entity), Spec = ProtoJson.Parse<PoolSpec>(entity.SpecJson) };

    public static Backend ToBackend(BackendEntity entity) =>
        new() { Metadata = ToMetadata(entity), Spec = ProtoJson.Parse<BackendSpec>(entity.SpecJson) };

    public static Listener ToListener(ListenerEntity entity) =>
        new() { Metadata = ToMetadata(entity), Spec = ProtoJson.Parse<ListenerSpec>(entity.SpecJson) };

    /// <summary>The private key is never mapped: SpecJson does not hold it and the encrypted column is not read.</summary>
    public static Certificate ToCertificate(CertificateEntity entity)
    {
        var spec = ProtoJson.Parse<CertificateSpec>(entity.SpecJson);
        spec.PrivateKeyPem = "";
        var status = new CertificateStatus
        {
            Subject = entity.Subject,
            Issuer = entity.Issuer,
            NotBefore = Timestamp.FromDateTime(entity.NotBefore),
            NotAfter = Timestamp.FromDateTime(entity.NotAfter),
            FingerprintSha256 = entity.FingerprintSha256,
        };
        status.DnsNames.AddRange(JsonSerializer.Deserialize(entity.DnsNamesJson, StoreJsonContext.Default.ListString) ?? []);
        return new Certificate { Metadata = ToMetadata(entity), Spec = spec, Status = status };
    }

    public static Agent ToAgent(AgentEntity entity)
    {
        var results = entity.GetListenerResults();
        var status = new AgentStatus
        {
            Connected = entity.Connected,
            LastSeen = Timestamp.FromDateTime(entity.LastSeen),
            SoftwareVersion = entity.SoftwareVersion,
            AppliedRevision = entity.AppliedRevision,
            AppliedHash = entity.AppliedHash,
            LastNackError = entity.LastNackError ?? "",
            Peer = entity.Peer,
            ConnectedAt = entity.ConnectedAt is { } at ? Timestamp.FromDateTime(at) : null,
            Phase = !entity.Connected ? "NotReady" : results.Any(r => !r.Programmed) ? "Degraded" : "Ready",
        };
        status.Listeners.AddRange(results
            .OrderBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => new ListenerAgentStatus { Agent = entity.Name, Programmed = r.Programmed, Reason = r.Reason ?? "", Revision = r.Revision }));
        return new Agent
        {
            Metadata = new ObjectMeta { Name = entity.Name },
            Spec = new AgentSpec { Tier = entity.Tier },
            Status = status,
        };
    }

    public static bool MatchesSelector(string labelsJson, IDictionary<string, string> selector)
    {
        if (selector.Count == 0)
        {
            return true;
        }
        var labels = ResourceStore.LabelsFromJson(labelsJson);
        return selector.All(s => labels.TryGetValue(s.Key, out var value) && value == s.Value);
    }
}
