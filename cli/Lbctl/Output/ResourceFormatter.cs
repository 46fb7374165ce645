using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Output;

/// <summary>The -o json and -o yaml forms of resources.</summary>
internal static class ResourceFormatter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The protobuf JSON mapping (camelCase names, int64 as strings, RFC 3339 times).</summary>
    public static JsonObject ToJsonObject(IMessage message) =>
        JsonNode.Parse(JsonFormatter.Default.Format(message))!.AsObject();

    /// <summary>One resource as its JSON object; a list as {"items": [...]} as kubectl does.</summary>
    public static void WriteJson(TextWriter writer, IReadOnlyList<IMessage> messages, bool isList)
    {
        JsonNode node = isList
            ? new JsonObject { ["items"] = new JsonArray(messages.Select(m => (JsonNode)ToJsonObject(m)).ToArray()) }
            : ToJsonObject(messages.Single());
        writer.WriteLine(node.ToJsonString(Indented));
    }

    /// <summary>
    /// Records that are not manifests (tokens, audit entries) as one YAML document of the same
    /// shape as -o json, {"items": [...]}: nothing there could be given to apply.
    /// </summary>
    public static void WriteYamlList(TextWriter writer, IReadOnlyList<IMessage> messages) =>
        YamlWriter.WriteDocuments(writer, [new JsonObject { ["items"] = new JsonArray(messages.Select(m => (JsonNode)ToJsonObject(m)).ToArray()) }]);

    /// <summary>
    /// One YAML document per resource, with apiVersion and kind in front so that the output
    /// can be given back to <c>lbctl apply -f</c> (which ignores status).
    /// </summary>
    public static void WriteYaml(TextWriter writer, ApiKind kind, IEnumerable<IMessage> messages) =>
        YamlWriter.WriteDocuments(writer, messages.Select(m => ToManifest(kind, m)));

    public static JsonObject ToManifest(ApiKind kind, IMessage message)
    {
        var document = new JsonObject
        {
            ["apiVersion"] = ManifestReader.ApiVersion,
            ["kind"] = kind.Kind,
        };
        foreach (var (key, value) in ToJsonObject(message).ToList())
        {
            document[key] = value?.DeepClone();
        }
        return document;
    }
}
