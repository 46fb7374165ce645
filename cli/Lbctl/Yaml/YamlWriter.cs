using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// Writes JSON trees as block-style YAML, quoting exactly the strings that
/// <see cref="YamlScalars"/> would otherwise read back as null, booleans or numbers
/// (protobuf JSON writes int64 as "42"), and writing multi-line strings such as PEM
/// blocks as literal blocks.
/// </summary>
internal static class YamlWriter
{
    /// <summary>Several documents: the first implicit, the next ones after "---".</summary>
    public static void WriteDocuments(TextWriter writer, IEnumerable<JsonObject> documents)
    {
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        var first = true;
        foreach (var document in documents)
        {
            emitter.Emit(new DocumentStart(null, null, isImplicit: first));
            first = false;
            WriteNode(emitter, document);
            emitter.Emit(new DocumentEnd(isImplicit: true));
        }
        emitter.Emit(new StreamEnd());
    }

    public static string ToYaml(JsonObject document)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        WriteDocuments(writer, [document]);
        return writer.ToString();
    }

    private static void WriteNode(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                Plain(emitter, "null");
                break;
            case JsonObject obj:
                // Empty collections are written in flow style ({} and []): block style cannot express them.
                emitter.Emit(new MappingStart(null, null, true, obj.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    WriteString(emitter, key);
                    WriteNode(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(null, null, true, array.Count == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in array)
                {
                    WriteNode(emitter, item);
                }
                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        WriteString(emitter, value.GetValue<string>());
                        break;
                    case JsonValueKind.True:
                        Plain(emitter, "true");
                        break;
                    case JsonValueKind.False:
                        Plain(emitter, "false");
                        break;
                    case JsonValueKind.Null:
                        Plain(emitter, "null");
                        break;
                    default:
                        Plain(emitter, value.ToJsonString());
                        break;
                }
                break;
        }
    }

    private static void WriteString(IEmitter emitter, string text)
    {
        var style = text.Contains('\n', StringComparison.Ordinal) ? ScalarStyle.Literal
            : YamlScalars.NeedsQuotes(text) ? ScalarStyle.DoubleQuoted
            : ScalarStyle.Any; // the emitter quotes whatever plain style cannot carry (": ", "#", ...)
        emitter.Emit(new Scalar(null, null, text, style, isPlainImplicit: true, isQuotedImplicit: true));
    }

    private static void Plain(IEmitter emitter, string text) =>
        emitter.Emit(new Scalar(null, null, text, ScalarStyle.Plain, isPlainImplicit: true, isQuotedImplicit: false));
}
