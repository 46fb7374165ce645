using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Describe;

/// <summary>
/// The human view of one resource: metadata as aligned "Key: value" lines, spec as YAML,
/// status with its lists (per-agent health, conditions, listeners) as tables. Spec and status
/// are rendered from the message generically so that new fields show up without changes here.
/// </summary>
internal static class ResourceDescriber
{
    private static readonly JsonFormatter StatusFormatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static string Describe(ApiKind kind, IMessage message, DateTimeOffset now)
    {
        if (message is Agent agent)
        {
            return DescribeAgent(agent, now);
        }
        var text = new StringBuilder();
        var writer = new StringWriter(text, CultureInfo.InvariantCulture);
        var metadata = ApiKind.MetadataOf(message);
        var json = ResourceFormatter.ToJsonObject(message);

        var header = new List<(string, string)>
        {
            ("Name", metadata.Name),
            ("Kind", kind.Kind),
            ("Labels", metadata.Labels.Count == 0 ? "<none>" : string.Join(", ", metadata.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))),
            ("UID", Or(metadata.Uid)),
            ("Resource Version", metadata.ResourceVersion.ToString(CultureInfo.InvariantCulture)),
            ("Generation", metadata.Generation.ToString(CultureInfo.InvariantCulture)),
            ("Created", Age.Describe(metadata.CreatedAt, now)),
            ("Updated", Age.Describe(metadata.UpdatedAt, now)),
        };
        WriteFields(writer, header, indent: "");

        writer.WriteLine("Spec:");
        if (json["spec"] is JsonObject { Count: > 0 } spec)
        {
            if (message is Certificate)
            {
                SummarisePem(spec, "certificatePem");
            }
            WriteIndentedYaml(writer, spec, "  ");
        }
        else
        {
            writer.WriteLine("  <none>");
        }

        writer.WriteLine("Status:");
        // Status with default values: "programmed: false" and zero counts are information here.
        if (message.Descriptor.FindFieldByName("status")?.Accessor.GetValue(message) is IMessage statusMessage
            && JsonNode.Parse(StatusFormatter.Format(statusMessage)) is JsonObject { Count: > 0 } status)
        {
            WriteStatus(writer, status, now);
        }
        else
        {
            writer.WriteLine("  <none>");
        }
        return text.ToString();
    }

    /// <summary>
    /// An agent is not a stored resource: it has no UID, labels, versions or creation time, and its
    /// only spec field is its tier. So: name, kind and tier, then one Status section led by the
    /// phase as get shows it (Disconnected when the stream is gone).
    /// </summary>
    private static string DescribeAgent(Agent agent, DateTimeOffset now)
    {
        var text = new StringBuilder();
        var writer = new StringWriter(text, CultureInfo.InvariantCulture);
        WriteFields(writer, [("Name", agent.Metadata?.Name ?? ""), ("Kind", "Agent"), ("Tier", Or(agent.Spec?.Tier ?? ""))], indent: "");
        writer.WriteLine("Status:");
        var status = new JsonObject { ["phase"] = Get.ResourceTables.AgentPhase(agent.Status) };
        if (agent.Status is { } agentStatus && JsonNode.Parse(StatusFormatter.Format(agentStatus)) is JsonObject fields)
        {
            foreach (var (key, value) in fields)
            {
                if (key != "phase")
                {
                    status[key] = value?.DeepClone();
                }
            }
        }
        WriteStatus(writer, status, now);
        return text.ToString();
    }

    private static void WriteStatus(TextWriter writer, JsonObject status, DateTimeOffset now)
    {
        // Scalars first, aligned; then each list as its own table.
        var scalars = new JsonObject();
        var tables = new List<(string Name, JsonArray Rows)>();
        foreach (var (key, value) in status)
        {
            if (value is JsonArray array && array.All(item => item is JsonObject))
            {
                tables.Add((key, array));
            }
            else
            {
                scalars[key] = value?.DeepClone();
            }
        }

        WriteFields(writer, scalars.Select(p => (Title(p.Key), Scalar(p.Value, now))).ToList(), indent: "  ");
        foreach (var (name, rows) in tables)
        {
            writer.WriteLine($"  {Title(name)}:");
            if (rows.Count == 0)
            {
                writer.WriteLine("    <none>");
                continue;
            }
            var columns = rows.OfType<JsonObject>().SelectMany(r => r.Select(p => p.Key)).Distinct().ToList();
            var table = new StringWriter(CultureInfo.InvariantCulture);
            TableWriter.Write(
                table,
                columns.Select(Header).ToList(),
                rows.OfType<JsonObject>().Select(r => columns.Select(c => r.TryGetPropertyValue(c, out var v) ? Scalar(v, now) : "").ToList()));
            foreach (var line in table.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                writer.WriteLine($"    {line.TrimEnd('\r')}");
            }
        }
    }

    private static void WriteFields(TextWriter writer, IReadOnlyList<(string Key, string Value)> fields, string indent)
    {
        if (fields.Count == 0)
        {
            return;
        }
        var width = fields.Max(f => f.Key.Length) + 2;
        foreach (var (key, value) in fields)
        {
            writer.WriteLine($"{indent}{(key + ":").PadRight(width)}{value}");
        }
    }

    private static void WriteIndentedYaml(TextWriter writer, JsonObject node, string indent)
    {
        foreach (var line in YamlWriter.ToYaml(node).Split('\n'))
        {
            if (line.Length > 0)
            {
                writer.WriteLine($"{indent}{line.TrimEnd('\r')}");
            }
        }
    }

    /// <summary>A PEM chain is unreadable in a terminal; its count and size say enough (get -o yaml has it all).</summary>
    private static void SummarisePem(JsonObject spec, string key)
    {
        if (spec[key] is JsonValue value && value.TryGetValue<string>(out var pem))
        {
            var count = pem.Split("-----BEGIN ", StringSplitOptions.None).Length - 1;
            spec[key] = $"<{count} PEM block(s), {pem.Length} bytes>";
        }
    }

    /// <summary>Timestamps as ages, lists joined, everything else as its JSON text.</summary>
    private static string Scalar(JsonNode? node, DateTimeOffset now)
    {
        switch (node)
        {
            case null:
                return "";
            case JsonArray { Count: 0 }:
                return "<none>";
            case JsonArray array:
                return string.Join(", ", array.Select(i => Scalar(i, now)));
            case JsonObject obj:
                return obj.ToJsonString();
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var text = value.GetValue<string>();
                return text.Length >= 20 && text[10] == 'T' && text.EndsWith('Z')
                    && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
                    ? Age.Describe(Timestamp.FromDateTimeOffset(time), now)
                    : text;
            default:
                return node.ToJsonString();
        }
    }

    /// <summary>"agentsTotal" -> "Agents Total".</summary>
    private static string Title(string camel)
    {
        var builder = new StringBuilder();
        foreach (var c in camel)
        {
            if (char.IsUpper(c) && builder.Length > 0)
            {
                builder.Append(' ');
            }
            builder.Append(builder.Length == 0 ? char.ToUpperInvariant(c) : c);
        }
        return builder.ToString();
    }

    /// <summary>"lastTransitionTime" -> "LAST-TRANSITION-TIME".</summary>
    private static string Header(string camel) => Title(camel).Replace(' ', '-').ToUpperInvariant();

    private static string Or(string value) => value.Length == 0 ? "<none>" : value;
}
