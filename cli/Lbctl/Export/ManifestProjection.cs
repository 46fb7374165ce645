using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Export;

/// <summary>
/// The part of a resource its author owns, as an apply manifest: apiVersion, kind,
/// metadata.name, metadata.labels (sorted, omitted when empty) and spec exactly as the
/// server returned it (protobuf JSON, so only fields that were written). No uid,
/// resourceVersion, generation, timestamps or status. Shared by export and diff so that both
/// show the same text.
/// </summary>
internal static class ManifestProjection
{
    /// <summary>The kinds in dependency order: what a resource refers to comes before it.</summary>
    public static IReadOnlyList<ApiKind> ApplyOrder { get; } =
        [ApiKinds.Certificate, ApiKinds.Pool, ApiKinds.Backend, ApiKinds.Listener];

    public static JsonObject ToDocument(ApiKind kind, IMessage message, bool keepPrivateKey = false)
    {
        var metadata = ApiKind.MetadataOf(message);
        var meta = new JsonObject { ["name"] = metadata.Name };
        if (metadata.Labels.Count > 0)
        {
            var labels = new JsonObject();
            foreach (var (key, value) in metadata.Labels.OrderBy(l => l.Key, StringComparer.Ordinal))
            {
                labels[key] = value;
            }
            meta["labels"] = labels;
        }

        var document = new JsonObject
        {
            ["apiVersion"] = ManifestReader.ApiVersion,
            ["kind"] = kind.Kind,
            ["metadata"] = meta,
        };
        var spec = message.Descriptor.FindFieldByName("spec")?.Accessor.GetValue(message) as IMessage;
        if (spec is not null)
        {
            var json = ResourceFormatter.ToJsonObject(spec);
            if (!keepPrivateKey && spec is CertificateSpec)
            {
                json.Remove("privateKeyPem");
            }
            if (json.Count > 0)
            {
                document["spec"] = json;
            }
        }
        return document;
    }
}
