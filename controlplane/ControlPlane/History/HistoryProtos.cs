using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;

namespace LoadBalancer.ControlPlane.History;

/// <summary>History rows as API resources: metadata and spec, never a private key (SpecJson never holds one; sealed bytes are not read).</summary>
internal static class HistoryProtos
{
    public static Resource ToResource(ResourceHistoryEntity row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var metadata = new ObjectMeta
        {
            Name = row.Name,
            Uid = row.Uid,
            ResourceVersion = row.Revision,
            Generation = row.Generation,
            CreatedAt = Timestamp.FromDateTime(row.CreatedAt),
        };
        metadata.Labels.Add(ResourceStore.LabelsFromJson(row.LabelsJson));
        return System.Enum.Parse<ResourceKind>(row.Kind) switch
        {
            ResourceKind.Pool => new Resource { Pool = new Pool { Metadata = metadata, Spec = ProtoJson.Parse<PoolSpec>(row.SpecJson) } },
            ResourceKind.Backend => new Resource { Backend = new Backend { Metadata = metadata, Spec = ProtoJson.Parse<BackendSpec>(row.SpecJson) } },
            ResourceKind.Listener => new Resource { Listener = new Listener { Metadata = metadata, Spec = ProtoJson.Parse<ListenerSpec>(row.SpecJson) } },
            ResourceKind.Certificate => new Resource { Certificate = new Certificate { Metadata = metadata, Spec = CertificateWithoutKey(row.SpecJson) } },
            var kind => throw new InvalidOperationException($"history holds an unknown kind {kind}"),
        };
    }

    public static ResourceChange ToProto(RowChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var proto = new ResourceChange { Kind = change.Kind.ToString(), Name = change.Name, Change = change.Change };
        if (change.Before is not null)
        {
            proto.Before = ToResource(change.Before);
        }
        if (change.After is not null)
        {
            proto.After = ToResource(change.After);
        }
        return proto;
    }

    private static CertificateSpec CertificateWithoutKey(string json)
    {
        var spec = ProtoJson.Parse<CertificateSpec>(json);
        spec.PrivateKeyPem = "";
        return spec;
    }
}
