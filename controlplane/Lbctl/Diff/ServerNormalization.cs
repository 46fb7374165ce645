using Google.Protobuf;
using Google.Protobuf.Collections;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Diff;

/// <summary>
/// What the server does to a resource before it compares and stores it (ResourceStore.Normalize
/// in the control plane): names and references are lowercased. Applied to the manifest's side
/// of a diff so that <c>pool: Web</c> against a stored <c>web</c> is not reported as a change
/// that apply would not make.
/// </summary>
internal static class ServerNormalization
{
    public static IMessage Normalize(IMessage message)
    {
        var copy = message.Descriptor.Parser.ParseFrom(message.ToByteString());
        switch (copy)
        {
            case Pool pool:
                LowerName(pool.Metadata);
                break;
            case Backend backend:
                LowerName(backend.Metadata);
                if (backend.Spec is not null)
                {
                    backend.Spec.Pool = backend.Spec.Pool.ToLowerInvariant();
                }
                break;
            case Listener listener:
                LowerName(listener.Metadata);
                if (listener.Spec is { } spec)
                {
                    spec.Tier = spec.Tier.ToLowerInvariant();
                    spec.Pool = spec.Pool.ToLowerInvariant();
                    LowerAll(spec.Certificates);
                    foreach (var route in spec.Routes)
                    {
                        route.Pool = route.Pool.ToLowerInvariant();
                        LowerAll(route.Hosts);
                    }
                }
                break;
            case Certificate certificate:
                LowerName(certificate.Metadata);
                break;
        }
        return copy;
    }

    private static void LowerName(ObjectMeta? metadata)
    {
        if (metadata is not null)
        {
            metadata.Name = metadata.Name.ToLowerInvariant();
        }
    }

    private static void LowerAll(RepeatedField<string> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            values[i] = values[i].ToLowerInvariant();
        }
    }
}
