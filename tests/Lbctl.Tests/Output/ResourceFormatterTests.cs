using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Output;

public class ResourceFormatterTests
{
    public static TheoryData<string> Kinds => ["pool", "backend", "listener", "certificate"];

    private static IMessage SampleOf(string kind) => kind switch
    {
        "pool" => Samples.Pool(),
        "backend" => Samples.Backend(),
        "listener" => Samples.Listener(),
        _ => Samples.Certificate(),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void WriteYaml_ParsedBackByApply_GivesTheSameMessageWithoutStatus(string kindName)
    {
        var kind = ApiKinds.FromCommandLine(kindName)!;
        var original = SampleOf(kindName);
        var yaml = new StringWriter();

        ResourceFormatter.WriteYaml(yaml, kind, [original]);
        var parsed = ManifestReader.Read([new ManifestSource("out.yaml", "/", () => new StringReader(yaml.ToString()))]);

        var expected = kind.Descriptor.Parser.ParseFrom(original.ToByteArray());
        expected.Descriptor.FindFieldByName("status").Accessor.Clear(expected);
        Assert.Equal(expected, Assert.Single(parsed).Message);
    }

    [Fact]
    public void WriteYaml_List_IsMultiDocumentWithApiVersionAndKindFirst()
    {
        var yaml = new StringWriter();

        ResourceFormatter.WriteYaml(yaml, ApiKinds.Backend, [Samples.Backend("a"), Samples.Backend("b")]);

        var text = yaml.ToString();
        Assert.StartsWith("apiVersion: lb/v1\nkind: Backend\nmetadata:\n", text.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Single(text.ReplaceLineEndings("\n").Split('\n'), l => l == "---");
        var parsed = ManifestReader.Read([new ManifestSource("out.yaml", "/", () => new StringReader(text))]);
        Assert.Equal(["backend/a", "backend/b"], parsed.Select(p => p.Ref));
    }

    [Fact]
    public void WriteYaml_StringsThatLookLikeOtherTypes_AreQuoted()
    {
        var yaml = YamlWriter.ToYaml(new JsonObject { ["a"] = "42", ["b"] = "true", ["c"] = "", ["d"] = "null", ["e"] = "1.5", ["f"] = "plain", ["g"] = 7 });

        Assert.Equal("a: \"42\"\nb: \"true\"\nc: \"\"\nd: \"null\"\ne: \"1.5\"\nf: plain\ng: 7\n", yaml.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void WriteYaml_MultiLineString_IsALiteralBlock()
    {
        var yaml = YamlWriter.ToYaml(new JsonObject { ["pem"] = "-----BEGIN X-----\nAAAA\n-----END X-----\n" });

        Assert.Equal("pem: |\n  -----BEGIN X-----\n  AAAA\n  -----END X-----\n", yaml.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void WriteJson_List_IsAnItemsObject()
    {
        var json = new StringWriter();

        ResourceFormatter.WriteJson(json, [Samples.Backend("a"), Samples.Backend("b")], isList: true);

        var items = JsonNode.Parse(json.ToString())!["items"]!.AsArray();
        Assert.Equal(["a", "b"], items.Select(i => (string)i!["metadata"]!["name"]!));
        Assert.Equal("7", (string)items[0]!["metadata"]!["resourceVersion"]!);
    }

    [Fact]
    public void WriteJson_Single_IsTheProtobufJsonOfTheResource()
    {
        var json = new StringWriter();
        var backend = Samples.Backend();

        ResourceFormatter.WriteJson(json, [backend], isList: false);

        Assert.Equal(backend, JsonParser.Default.Parse<Api.V1.Backend>(json.ToString()));
    }
}
