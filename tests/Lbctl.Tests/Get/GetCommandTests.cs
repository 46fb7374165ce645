using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Get;

public class GetCommandTests
{
    private static FakeManagement Server() => new FakeManagement()
        .On<ListRequest>("ListPools", _ => new PoolList { Items = { Samples.Pool() } })
        .On<ListRequest>("ListBackends", _ => new BackendList { Items = { Samples.Backend("web-1"), Samples.Backend("web-2", "draining") } })
        .On<ListRequest>("ListListeners", _ => new ListenerList { Items = { Samples.Listener() } })
        .On<ListRequest>("ListCertificates", _ => new CertificateList { Items = { Samples.Certificate() } })
        .On<ListRequest>("ListAgents", _ => new AgentList { Items = { Samples.Agent("edge-1"), Samples.Agent("edge-2", connected: false) } })
        .On<GetRequest>("GetBackend", r => Samples.Backend(r.Name));

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    [Theory]
    [InlineData("pools", "NAME   PROTOCOL   ALGORITHM              HEALTHY/TOTAL   AGE", "web    http       weighted-round-robin   1/2             3h0m")]
    [InlineData("po", "NAME   PROTOCOL   ALGORITHM              HEALTHY/TOTAL   AGE", "web    http       weighted-round-robin   1/2             3h0m")]
    [InlineData("listeners", "NAME           TIER   PORT   PROTOCOL   ROUTES   PROGRAMMED   AGE", "public-https   edge   8443   https      1        1/2          5m0s")]
    [InlineData("cert", "NAME       DNS-NAMES                                 NOT-AFTER    DAYS-LEFT   FINGERPRINT        AGE", "shop-tls   shop.example.test,www.shop.example.test   2026-12-26   30          abcdef0123456789   5m0s")]
    public async Task Get_Table_HasKindColumns(string kind, string header, string row)
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("get", kind);

        Assert.Equal(0, exitCode);
        Assert.Equal([header, row], Lines(output));
    }

    [Fact]
    public async Task Get_Backends_TableShowsStateHealthAndInFlight()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("get", "be");

        Assert.Equal(
            [
                "NAME    POOL   ADDRESS          WEIGHT   STATE      HEALTH        IN-FLIGHT   AGE",
                "web-1   web    127.0.0.1:9101   3        enabled    healthy 1/1   4           5m0s",
                "web-2   web    127.0.0.1:9101   3        draining   healthy 1/1   4           5m0s",
            ],
            Lines(output));
    }

    [Fact]
    public async Task Get_Agents_StatusIsReadyOrDisconnected()
    {
        using var cli = new CliHarness { Server = Server(), Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("get", "agents");

        var lines = Lines(output);
        Assert.Equal("NAME     TIER   CONNECTED   REVISION   LAST-SEEN   STATUS         LAST-NACK", lines[0]);
        Assert.Equal("edge-1   edge   true        42         3s          Ready          -", lines[1]);
        Assert.StartsWith("edge-2   edge   false       42         3s          Disconnected   listener public-https:", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_OneByName_CallsGet()
    {
        var server = Server();
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("get", "backend", "web-9", "-o", "name");

        Assert.Equal(0, exitCode);
        Assert.Equal("web-9", Assert.Single(server.Requests<GetRequest>("GetBackend")).Name);
        Assert.Equal("backend/web-9\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Get_Json_ListIsItemsObjectOfProtobufJson()
    {
        using var cli = new CliHarness { Server = Server() };

        var (_, output, _) = await cli.RunAsync("get", "backends", "-o", "json");

        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        Assert.Equal(Samples.Backend("web-1"), JsonParser.Default.Parse<Backend>(items[0]!.ToJsonString()));
    }

    [Fact]
    public async Task Get_Yaml_CanBeAppliedAgain()
    {
        using var cli = new CliHarness { Server = Server() };

        var (_, output, _) = await cli.RunAsync("get", "backends", "-o", "yaml");

        var parsed = ManifestReader.Read([new ManifestSource("get.yaml", "/", () => new StringReader(output))]);
        Assert.Equal(["backend/web-1", "backend/web-2"], parsed.Select(p => p.Ref));
    }

    [Fact]
    public async Task Get_LabelSelector_IsSentToTheServer()
    {
        var server = Server();
        using var cli = new CliHarness { Server = server };

        await cli.RunAsync("get", "pools", "-l", "tier=edge,team=shop");

        var selector = Assert.Single(server.Requests<ListRequest>("ListPools")).LabelSelector;
        Assert.Equal(new Dictionary<string, string> { ["tier"] = "edge", ["team"] = "shop" }, selector);
    }

    [Fact]
    public async Task Get_Pools_WithoutHealthReports_ShowsUnknownOverTotal()
    {
        var pool = Samples.Pool();
        pool.Status.Tiers.Clear();
        var server = new FakeManagement().On<ListRequest>("ListPools", _ => new PoolList { Items = { pool } });
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (_, output, _) = await cli.RunAsync("get", "pools");

        Assert.Equal(
            ["NAME   PROTOCOL   ALGORITHM              HEALTHY/TOTAL   AGE", "web    http       weighted-round-robin   -/2             3h0m"],
            Lines(output));
    }

    private static FakeManagement TwoPools() => new FakeManagement()
        .On<ListRequest>("ListBackends", _ => new BackendList
        {
            Items = { Samples.Backend("web-1"), Samples.Backend("web-2", "draining"), WithPool(Samples.Backend("db-1"), "db") },
        });

    private static Backend WithPool(Backend backend, string pool)
    {
        backend.Spec.Pool = pool;
        return backend;
    }

    [Theory]
    [InlineData("--pool", "web")]
    [InlineData("--field-selector", "pool=web")]
    [InlineData("--field-selector", "spec.pool==web")]
    public async Task Get_Backends_OfOnePool(string option, string value)
    {
        using var cli = new CliHarness { Server = TwoPools() };

        var (exitCode, output, _) = await cli.RunAsync("get", "backends", option, value, "-o", "name");

        Assert.Equal((0, "backend/web-1\nbackend/web-2\n"), (exitCode, output.ReplaceLineEndings("\n")));
    }

    [Fact]
    public async Task Get_Backends_FieldSelectorTermsCombine()
    {
        using var cli = new CliHarness { Server = TwoPools() };

        var (_, output, _) = await cli.RunAsync("get", "backends", "--field-selector", "pool=web,state!=draining", "-o", "name");

        Assert.Equal("backend/web-1\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Get_Backends_LabelSelectorOnPool_FindsNothingAndSaysWhatToUse()
    {
        var server = new FakeManagement().On<ListRequest>("ListBackends", _ => new BackendList());
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("get", "backends", "-l", "pool=web");

        Assert.Equal(0, exitCode);
        Assert.Contains("No backends found.", error, StringComparison.Ordinal);
        Assert.Contains("use --pool web (or --field-selector pool=web)", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("backends have no field \"colour\"; fields: name, pool, state", "get", "backends", "--field-selector", "colour=red")]
    [InlineData("expected field=value", "get", "backends", "--field-selector", "pool")]
    [InlineData("--pool selects backends only", "get", "pools", "--pool", "web")]
    [InlineData("cannot be combined with a NAME", "get", "backend", "web-1", "--pool", "web")]
    public async Task Get_BadFieldSelector_IsUsageErrorNamingTheProblem(string expected, params string[] args)
    {
        using var cli = new CliHarness { Server = TwoPools() };

        var (exitCode, output, error) = await cli.RunAsync(args);

        Assert.Equal((2, ""), (exitCode, output));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_EmptyList_SaysSoOnStderr()
    {
        var server = new FakeManagement().On<ListRequest>("ListPools", _ => new PoolList());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("get", "pools");

        Assert.Equal((0, ""), (exitCode, output));
        Assert.Equal("No pools found.\n", error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("get", "widgets")]
    [InlineData("get", "pools", "-o", "xml")]
    [InlineData("get")]
    [InlineData("get", "pools", "--bogus")]
    public async Task Get_BadCommandLine_IsUsageErrorWithHelp(params string[] args)
    {
        using var cli = new CliHarness { Server = Server() };

        var (exitCode, output, error) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Contains("--help", error, StringComparison.Ordinal);
    }
}
