using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// Turns a YAML node into the protobuf JSON form of a message, walking the message's
/// descriptor alongside. Google.Protobuf's JsonParser does the final parse; walking the schema
/// here first buys two things a blind YAML-to-JSON pass cannot give: errors that name the
/// exact path ("unknown field \"algoritm\" in spec"), and plain scalars in string fields
/// kept as text, so <c>expectedStatus: 200</c> or a label <c>version: 2</c> just work.
/// Outside string fields the rules are the YAML 1.2 core ones: true/false are booleans,
/// numbers are numbers, null/~/empty are null, and quoted scalars are strings.
/// </summary>
internal static class YamlToJson
{
    /// <summary>A value that does not fit the schema; Message is complete and names the path.</summary>
    internal sealed class FieldException(string message, Mark start) : Exception(message)
    {
        public Mark Start { get; } = start;
    }

    /// <param name="unknownFields">
    /// When given, an unknown field is added to it and skipped, so that one pass reports every
    /// misspelled field of a document; other errors still throw at once.
    /// </param>
    public static JsonObject? ConvertMessage(YamlNode node, MessageDescriptor descriptor, string path, List<FieldException>? unknownFields = null)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is not YamlMappingNode mapping)
        {
            throw new FieldException($"{path}: expected a mapping, got {Describe(node)}", node.Start);
        }

        var json = new JsonObject();
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var key = KeyText(keyNode, path);
            var field = FindField(descriptor, key);
            if (field is null)
            {
                var near = Cli.Spelling.Closest(key, descriptor.Fields.InFieldNumberOrder().Select(f => f.JsonName));
                var unknown = new FieldException($"unknown field \"{key}\" in {path}{(near is null ? "" : $"; did you mean \"{near}\"?")}", keyNode.Start);
                if (unknownFields is null)
                {
                    throw unknown;
                }
                unknownFields.Add(unknown);
                continue;
            }
            if (json.ContainsKey(field.JsonName))
            {
                // "healthCheck" and "health_check" are the same field; the YAML parser only
                // catches literal duplicates.
                throw new FieldException($"field \"{key}\" in {path} is given twice", keyNode.Start);
            }
            json[field.JsonName] = ConvertField(valueNode, field, Join(path, field.JsonName), unknownFields);
        }
        return json;
    }

    public static string KeyText(YamlNode keyNode, string path) => keyNode is YamlScalarNode { Value: { } text }
        ? text
        : throw new FieldException($"{path}: keys must be plain names, got {Describe(keyNode)}", keyNode.Start);

    /// <summary>Proto field by JSON name (camelCase) or by its proto name (snake_case).</summary>
    public static FieldDescriptor? FindField(MessageDescriptor descriptor, string key) =>
        descriptor.Fields.InFieldNumberOrder().FirstOrDefault(f => f.JsonName == key || f.Name == key);

    private static JsonNode? ConvertField(YamlNode node, FieldDescriptor field, string path, List<FieldException>? unknownFields)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (field.IsMap)
        {
            if (node is not YamlMappingNode mapping)
            {
                throw new FieldException($"{path}: expected a mapping, got {Describe(node)}", node.Start);
            }
            var valueField = field.MessageType.FindFieldByNumber(2);
            var map = new JsonObject();
            foreach (var (keyNode, valueNode) in mapping.Children)
            {
                var key = KeyText(keyNode, path);
                map[key] = ConvertValue(valueNode, valueField, $"{path}.{key}", unknownFields);
            }
            return map;
        }
        if (field.IsRepeated)
        {
            if (node is not YamlSequenceNode sequence)
            {
                throw new FieldException($"{path}: expected a list, got {Describe(node)}", node.Start);
            }
            var array = new JsonArray();
            var index = 0;
            foreach (var item in sequence.Children)
            {
                array.Add(ConvertValue(item, field, $"{path}[{index++}]", unknownFields));
            }
            return array;
        }
        return ConvertValue(node, field, path, unknownFields);
    }

    private static JsonNode? ConvertValue(YamlNode node, FieldDescriptor field, string path, List<FieldException>? unknownFields)
    {
        if (field.FieldType is FieldType.Message or FieldType.Group)
        {
            // Well-known types with a string JSON form (Timestamp, Duration) stay strings.
            if (field.MessageType.FullName is "google.protobuf.Timestamp" or "google.protobuf.Duration")
            {
                return IsNull(node) ? null : JsonValue.Create(ScalarText(node, path, "a timestamp"));
            }
            return ConvertMessage(node, field.MessageType, path, unknownFields);
        }
        if (IsNull(node))
        {
            return null;
        }

        switch (field.FieldType)
        {
            case FieldType.String:
                return JsonValue.Create(ScalarText(node, path, "a string"));
            case FieldType.Bytes:
                return JsonValue.Create(ScalarText(node, path, "base64 text"));
            case FieldType.Enum:
                return JsonValue.Create(ScalarText(node, path, "an enumeration value"));
            case FieldType.Bool:
            {
                var text = ScalarText(node, path, "true or false");
                return IsPlain(node) && YamlScalars.TryBool(text, out var b)
                    ? JsonValue.Create(b)
                    : throw new FieldException($"{path}: expected true or false, got {Quote(node)}", node.Start);
            }
            case FieldType.Double or FieldType.Float:
            {
                var text = ScalarText(node, path, "a number");
                if (!YamlScalars.TryFloat(text, out var d))
                {
                    throw new FieldException($"{path}: expected a number, got {Quote(node)}", node.Start);
                }
                // JSON has no infinities: protobuf JSON spells them as strings.
                return double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture));
            }
            default:
            {
                // Every integer type. Quoted integers are accepted, as protobuf JSON does.
                var text = ScalarText(node, path, "an integer");
                if (!YamlScalars.TryInteger(text, out var value))
                {
                    throw new FieldException($"{path}: expected an integer, got {Quote(node)}", node.Start);
                }
                var (min, max) = Range(field.FieldType);
                if (value < min || value > max)
                {
                    throw new FieldException($"{path}: {text} is out of range ({min} to {max})", node.Start);
                }
                return JsonValue.Create(value);
            }
        }
    }

    private static (decimal Min, decimal Max) Range(FieldType type) => type switch
    {
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => (int.MinValue, int.MaxValue),
        FieldType.UInt32 or FieldType.Fixed32 => (0, uint.MaxValue),
        FieldType.UInt64 or FieldType.Fixed64 => (0, ulong.MaxValue),
        _ => (long.MinValue, long.MaxValue),
    };

    private static string ScalarText(YamlNode node, string path, string expected) => node is YamlScalarNode { Value: { } text }
        ? text
        : throw new FieldException($"{path}: expected {expected}, got {Describe(node)}", node.Start);

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode scalar && IsPlain(scalar) && YamlScalars.IsNull(scalar.Value ?? "");

    private static bool IsPlain(YamlNode node) => node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any };

    private static string Quote(YamlNode node) => node is YamlScalarNode { Value: { } text } ? $"\"{text}\"" : Describe(node);

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"\"{s.Value}\"",
        _ => "an alias",
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
