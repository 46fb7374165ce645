using BenchmarkDotNet.Attributes;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Routing;
using Microsoft.AspNetCore.Http;

namespace LoadBalancer.Agent.Benchmarks;

/// <summary>
/// Cost of matching one request against a listener's route table of 50 routes (hosts, prefixes,
/// exact paths, a regular expression, method, header and query conditions): the common case,
/// host and path prefix, must allocate nothing; the others show what a condition costs.
/// </summary>
[MemoryDiagnoser]
public class RouteMatchBenchmarks
{
    private RouteTable _table = null!;
    private HttpRequest _request = null!;

    [Params("prefix", "exact", "regex", "header", "query")]
    public string Case { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var routes = new List<RouteConfig>();
        for (var i = 0; i < 10; i++)
        {
            routes.Add(Route($"h{i}", $"/svc{i}", $"site{i}.example.com"));
            routes.Add(Route($"w{i}", $"/svc{i}", $"*.zone{i}.example.com"));
        }
        for (var i = 0; i < 10; i++)
        {
            routes.Add(Route($"e{i}", "/", null, Match("Exact", $"/exact/{i}")));
            routes.Add(Route($"p{i}", "/", null, Match("PathPrefix", $"/api/v{i}")));
            routes.Add(Route($"q{i}", "/", null, Match("PathPrefix", "/search", query: [new ValueMatchConfig("Exact", "v", $"{i}")])));
        }
        routes.Add(Route("regex", "/", null, Match("RegularExpression", "/items/[0-9]+/detail")));
        routes.Add(Route("header", "/", null, Match("PathPrefix", "/", method: "GET", headers: [new ValueMatchConfig("Exact", "x-env", "canary")])));
        routes.Add(Route("any", "/", null));
        _table = new RouteTable(routes);

        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        (context.Request.Path, context.Request.QueryString) = Case switch
        {
            "exact" => ("/exact/7", QueryString.Empty),
            "regex" => ("/items/12345/detail", QueryString.Empty),
            "query" => ("/search", new QueryString("?a=1&v=9")),
            _ => ("/api/v9/users/42", QueryString.Empty),
        };
        if (Case == "header")
        {
            context.Request.Path = "/other";
            context.Request.Headers["X-Env"] = "canary";
        }
        _request = context.Request;
    }

    [Benchmark]
    public RouteEntry? Match() =>
        _table.Match("shop.example.com", _request.Path.Value, new HttpRouteRequest(_request));

    private static RouteConfig Route(string pool, string prefix, string? host, params RouteMatchConfig[] matches) =>
        new(new EquatableArray<string>(host is null ? [] : [host]), prefix, pool) { Matches = new EquatableArray<RouteMatchConfig>(matches) };

    private static RouteMatchConfig Match(string type, string value, string method = "", ValueMatchConfig[]? headers = null, ValueMatchConfig[]? query = null) =>
        new(type, value, method, new EquatableArray<ValueMatchConfig>(headers ?? []), new EquatableArray<ValueMatchConfig>(query ?? []));
}
