using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Builds random protobuf messages and one-field mutations of valid ones through reflection
/// (<see cref="MessageDescriptor"/>), with values chosen to break parsers and validators:
/// hostile strings, boundary numbers, PEM junk, oversized collections.
/// </summary>
internal sealed class ProtoFuzzer(Random random)
{
    private const int MaxDepth = 5;
    private const int HugeStringLength = 100 * 1024;

    private static readonly string[] BaseStrings = BuildBaseStrings();
    private static readonly int[] Int32Values = [0, 1, -1, 2, 10, 11, 100, 101, 1000, 1001, 65535, 65536, 80, 443, int.MaxValue, int.MinValue, int.MaxValue - 1, -65535, 1_000_000, 1_000_001];
    private static readonly long[] Int64Values = [0, 1, -1, 2, long.MaxValue, long.MinValue, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, -4096, 1_000_000_000_000];

    /// <summary>Bytes of 100 KB strings still allowed in the message being built (keeps requests under the 4 MB limit).</summary>
    private int _hugeBudget;

    /// <summary>Names that exist on the server; mixed into name-like fields so that some requests reach deeper checks.</summary>
    public List<string> KnownNames { get; } = [];

    /// <summary>Certificate and key PEMs (valid and hostile) for fields whose name ends in "pem".</summary>
    public List<string> Pems { get; } = [];

    public static IReadOnlyList<string> HostileStrings => BaseStrings;

    /// <summary>A message of <paramref name="descriptor"/>'s type with random fields set (nested to a bounded depth).</summary>
    public IMessage RandomMessage(MessageDescriptor descriptor)
    {
        _hugeBudget = 2 * HugeStringLength;
        return RandomMessage(descriptor, 0);
    }

    /// <summary>Changes one field somewhere in <paramref name="message"/> (sometimes deep inside) to a hostile value.</summary>
    public string Mutate(IMessage message)
    {
        _hugeBudget = HugeStringLength;
        var current = message;
        var path = "";
        for (var depth = 0; depth < MaxDepth; depth++)
        {
            if (PickField(current) is not { } field)
            {
                return path.Length == 0 ? "(no fields)" : path;
            }
            path += (path.Length == 0 ? "" : ".") + field.Name;
            if (field.IsMap)
            {
                MutateMap(current, field);
                return path;
            }
            if (field.FieldType == FieldType.Message && field.IsRepeated)
            {
                var list = (IList)field.Accessor.GetValue(current);
                if (list.Count > 0 && random.NextDouble() < 0.6)
                {
                    var index = random.Next(list.Count);
                    current = (IMessage)list[index]!;
                    path += $"[{index}]";
                    continue;
                }
                MutateRepeatedMessages(list, field);
                return path;
            }
            if (field.FieldType == FieldType.Message)
            {
                var child = (IMessage?)field.Accessor.GetValue(current);
                if (child is not null && random.NextDouble() < 0.75)
                {
                    current = child;
                    continue;
                }
                if (child is not null && random.NextDouble() < 0.5)
                {
                    field.Accessor.Clear(current);
                }
                else
                {
                    field.Accessor.SetValue(current, RandomMessage(field.MessageType, depth + 1));
                }
                return path;
            }
            if (field.IsRepeated)
            {
                MutateRepeatedScalars((IList)field.Accessor.GetValue(current), field);
                return path;
            }
            field.Accessor.SetValue(current, HostileScalar(field));
            return path;
        }
        return path;
    }

    /// <summary>A short, safe description of a message for failure messages (never throws, bounded length).</summary>
    public static string Describe(IMessage message)
    {
        string text;
        try
        {
            text = message.ToString() ?? "";
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            text = $"<{message.Descriptor.Name}: {ex.Message}>";
        }
        return text.Length <= 1500 ? text : text[..1500] + $"... ({text.Length} chars)";
    }

    public string HostileString(FieldDescriptor? field)
    {
        var name = field?.Name ?? "";
        var roll = random.NextDouble();
        if (name.EndsWith("pem", StringComparison.Ordinal) && Pems.Count > 0 && roll < 0.5)
        {
            return Pems[random.Next(Pems.Count)];
        }
        if (KnownNames.Count > 0 && roll < 0.15)
        {
            var known = KnownNames[random.Next(KnownNames.Count)];
            return random.Next(3) == 0 ? known.ToUpperInvariant() : known;
        }
        if (roll < 0.05 && _hugeBudget >= HugeStringLength)
        {
            _hugeBudget -= HugeStringLength;
            return random.Next(2) == 0 ? new string('a', HugeStringLength) : string.Concat(Enumerable.Repeat("é/😀\u0000", HugeStringLength / 5));
        }
        if (roll < 0.08)
        {
            return RandomUnicode(random.Next(1, 40));
        }
        return BaseStrings[random.Next(BaseStrings.Length)];
    }

    private IMessage RandomMessage(MessageDescriptor descriptor, int depth)
    {
        var message = descriptor.Parser.ParseFrom(ByteString.Empty);
        foreach (var oneof in descriptor.Oneofs.Where(o => !o.IsSynthetic))
        {
            if (random.NextDouble() < 0.8)
            {
                Fill(message, oneof.Fields[random.Next(oneof.Fields.Count)], depth);
            }
        }
        foreach (var field in descriptor.Fields.InDeclarationOrder())
        {
            if (field.RealContainingOneof is null && random.NextDouble() < 0.5)
            {
                Fill(message, field, depth);
            }
        }
        return message;
    }

    private void Fill(IMessage message, FieldDescriptor field, int depth)
    {
        if (field.IsMap)
        {
            var map = (IDictionary)field.Accessor.GetValue(message);
            var (keyField, valueField) = MapFields(field);
            for (var i = random.Next(0, 4); i > 0; i--)
            {
                map[Value(keyField, depth)] = Value(valueField, depth);
            }
            return;
        }
        if (field.IsRepeated)
        {
            var list = (IList)field.Accessor.GetValue(message);
            for (var i = random.Next(0, 4); i > 0; i--)
            {
                if (field.FieldType == FieldType.Message && depth >= MaxDepth)
                {
                    break;
                }
                list.Add(Value(field, depth));
            }
            return;
        }
        if (field.FieldType == FieldType.Message && depth >= MaxDepth)
        {
            return;
        }
        field.Accessor.SetValue(message, Value(field, depth));
    }

    /// <summary>One value of <paramref name="field"/>'s element type (a message is built recursively).</summary>
    private object Value(FieldDescriptor field, int depth) => field.FieldType switch
    {
        FieldType.Message => RandomMessage(field.MessageType, depth + 1),
        _ => HostileScalar(field),
    };

    private object HostileScalar(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.String => HostileString(field),
        FieldType.Bool => random.Next(2) == 0,
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => random.Next(4) == 0 ? random.Next(int.MinValue, int.MaxValue) : Int32Values[random.Next(Int32Values.Length)],
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => random.Next(4) == 0 ? random.NextInt64(long.MinValue, long.MaxValue) : Int64Values[random.Next(Int64Values.Length)],
        FieldType.UInt32 or FieldType.Fixed32 => (uint)random.NextInt64(0, uint.MaxValue),
        FieldType.UInt64 or FieldType.Fixed64 => (ulong)random.NextInt64(0, long.MaxValue) * 2,
        FieldType.Double => new[] { double.NaN, double.PositiveInfinity, -0.0, 1e308, -1 }[random.Next(5)],
        FieldType.Float => new[] { float.NaN, float.NegativeInfinity, 0f, 3e38f }[random.Next(4)],
        FieldType.Bytes => ByteString.CopyFrom(RandomBytes(random.Next(0, 64))),
        FieldType.Enum => random.Next(-2, 5),
        _ => throw new NotSupportedException($"field type {field.FieldType} of {field.FullName}"),
    };

    private FieldDescriptor? PickField(IMessage message)
    {
        var fields = message.Descriptor.Fields.InDeclarationOrder();
        if (fields.Count == 0)
        {
            return null;
        }
        // Mostly follow fields that are set, so mutations land inside the valid structure.
        var set = fields.Where(f => IsSet(message, f)).ToList();
        return set.Count > 0 && random.NextDouble() < 0.7 ? set[random.Next(set.Count)] : fields[random.Next(fields.Count)];
    }

    private static bool IsSet(IMessage message, FieldDescriptor field)
    {
        var value = field.Accessor.GetValue(message);
        return value switch
        {
            null => false,
            ICollection collection => collection.Count > 0,
            string s => s.Length > 0,
            bool b => b,
            int i => i != 0,
            long l => l != 0,
            _ => true,
        };
    }

    private void MutateMap(IMessage message, FieldDescriptor field)
    {
        var map = (IDictionary)field.Accessor.GetValue(message);
        var (keyField, valueField) = MapFields(field);
        switch (random.Next(4))
        {
            case 0:
                map.Clear();
                break;
            case 1:
                // One more than the 64 labels allowed.
                for (var i = 0; i < 65; i++)
                {
                    map[$"k{i}"] = "v";
                }
                break;
            default:
                map[HostileScalar(keyField)] = valueField.FieldType == FieldType.Message ? RandomMessage(valueField.MessageType, 1) : HostileScalar(valueField);
                break;
        }
    }

    private void MutateRepeatedMessages(IList list, FieldDescriptor field)
    {
        switch (random.Next(4))
        {
            case 0:
                list.Clear();
                break;
            case 1 when list.Count > 0:
                // The same element again (duplicates).
                list.Add(((IMessage)list[0]!).Descriptor.Parser.ParseFrom(((IMessage)list[0]!).ToByteString()));
                break;
            case 2:
                // Many elements: beyond per-field limits such as 1000 routes (small ones, no 100 KB strings).
                _hugeBudget = 0;
                var element = RandomMessage(field.MessageType, MaxDepth - 1);
                for (var i = 0; i < 1001; i++)
                {
                    list.Add(element.Descriptor.Parser.ParseFrom(element.ToByteString()));
                }
                break;
            default:
                list.Add(RandomMessage(field.MessageType, 1));
                break;
        }
    }

    private void MutateRepeatedScalars(IList list, FieldDescriptor field)
    {
        switch (random.Next(4))
        {
            case 0:
                list.Clear();
                break;
            case 1:
                for (var i = 0; i < 101; i++)
                {
                    list.Add(field.FieldType == FieldType.String ? $"h{i}.example.com" : HostileScalar(field));
                }
                break;
            case 2 when list.Count > 0:
                list[random.Next(list.Count)] = HostileScalar(field);
                break;
            default:
                list.Add(HostileScalar(field));
                break;
        }
    }

    private static (FieldDescriptor Key, FieldDescriptor Value) MapFields(FieldDescriptor map) =>
        (map.MessageType.FindFieldByNumber(1), map.MessageType.FindFieldByNumber(2));

    private string RandomUnicode(int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            // Any BMP code point, surrogates included: the client encoder replaces lone ones.
            chars[i] = (char)random.Next(0, 0x10000);
        }
        return new string(chars);
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string[] BuildBaseStrings() =>
    [
        "", " ", "a", "-", "0", "web", "Web", "WEB-1", "edge", "Edge", "default", "p", "fz-pool",
        new string('a', 63), new string('a', 64), new string('b', 253), new string('c', 4097),
        "ünïcödé", "名前", "😀", "\u212Aey", "İstanbul", "\u202Egnp.exe", "a\u200Bb", "e\u0301", "\uFEFFbom", "\uD800",
        "\0", "a\0b", "\r\n", "line\nbreak", "\t", "\u001b[31mred", "\u007f",
        "../../etc/passwd", "..\\..\\windows\\system32", "/etc/shadow", "%2e%2e%2f", "file:///etc/passwd",
        "'; DROP TABLE Pools; --", "\" OR 1=1 --", "Robert'); DROP TABLE Tokens;--", "%", "_", "*",
        "{0}", "%s%s%n", "${jndi:ldap://x/a}", "{\"a\":1}", "<script>alert(1)</script>",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nMA==\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----\n" + Convert.ToBase64String(Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray(), Base64FormattingOptions.InsertLineBreaks) + "\n-----END CERTIFICATE-----",
        "http", "https", "tcp", "HTTP", "udp", "round-robin", "consistent-hash", "ip-hash", "least-connections",
        "header X-User", "header ", "cookie a b", "source-ip", "path", "none", "cookie", "header",
        "200-399", "599-100", "99", "600", "200,", "1-2-3", "/", "/healthz", "no-slash", "/a b",
        "*.example.com", "*.com", "example.com", "a..b", "-a.com", "xn--80ak6aa92e.com",
        "127.0.0.1:80", "[::1]:443", "[::1]", "::1:80", "host:0", "host:65536", "host:-1", "a:b:c", "1.2.3:80", "999.1.1.1:80", "localhost:8080", ":80",
        "enabled", "draining", "disabled", "admin", "viewer", "agent", "ADMIN", "root",
        "1s", "0s", "-1s", "0.0001ms", "500ms", "1h", "25h", "90d", "365d", "366d", "1e9h", "99999999999999999999999h", "1.5.5s", "NaN", "Infinity", ".", "1", "s",
        "-1", "2147483648", "0x10", "9223372036854775808",
        "lbt_t-000000000000_x", "t-000000000000", "Bearer x",
    ];
}
