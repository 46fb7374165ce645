using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Routing;
using Microsoft.AspNetCore.Http;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

/// <summary>Gateway API's matches and precedence in <see cref="RouteTable"/>, through Kestrel's request type.</summary>
public sealed class RouteMatchingTests
{
    private static RouteMatchConfig M(string type = "PathPrefix", string value = "/", string method = "", ValueMatchConfig[]? headers = null, ValueMatchConfig[]? query = null) =>
        new(type, value, method, new EquatableArray<ValueMatchConfig>(headers ?? []), new EquatableArray<ValueMatchConfig>(query ?? []));

    private static RouteConfig R(string pool, params RouteMatchConfig[] matches) =>
        Route(pool) with { Matches = new EquatableArray<RouteMatchConfig>(matches) };

    private static ValueMatchConfig H(string name, string value, string type = "Exact") => new(type, name, value);

    private static string? Match(RouteTable table, string path, string method = "GET", string query = "", params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        context.Request.QueryString = new QueryString(query);
        foreach (var (name, value) in headers)
        {
            context.Request.Headers.Append(name, value);
        }
        return table.Match("example.com", path, new HttpRouteRequest(context.Request))?.Route.Pool;
    }

    [Theory]
    [InlineData("/api", "exact")]
    [InlineData("/api/users/42", "regex")]
    [InlineData("/api/other", "prefix")]
    [InlineData("/apix", "root")]
    public void Match_ExactBeatsRegexBeatsPrefix(string path, string expected)
    {
        var table = new RouteTable(
        [
            R("root", M()),
            R("prefix", M("PathPrefix", "/api")),
            R("regex", M("RegularExpression", "/api/users/[0-9]+")),
            R("exact", M("Exact", "/api")),
        ]);

        Assert.Equal(expected, Match(table, path));
    }

    [Fact]
    public void Match_RegexMustMatchTheWholePath()
    {
        var table = new RouteTable([R("regex", M("RegularExpression", "/v[0-9]"))]);

        Assert.Equal("regex", Match(table, "/v1"));
        Assert.Null(Match(table, "/v1/more"));
        Assert.Null(Match(table, "/x/v1"));
    }

    [Fact]
    public void Match_MethodMatchBeatsAnyMethod_AndOtherMethodsFallThrough()
    {
        var table = new RouteTable([R("any", M()), R("post", M(method: "POST"))]);

        Assert.Equal("post", Match(table, "/", "POST"));
        Assert.Equal("any", Match(table, "/", "GET"));
    }

    [Fact]
    public void Match_MoreHeaderConditionsWin_HeaderNameAnyCase()
    {
        var table = new RouteTable(
        [
            R("one", M(headers: [H("x-env", "canary")])),
            R("two", M(headers: [H("x-env", "canary"), H("x-user", "^(alice|bob)$", "RegularExpression")])),
            R("none", M()),
        ]);

        Assert.Equal("two", Match(table, "/", headers: [("X-Env", "canary"), ("X-User", "bob")]));
        Assert.Equal("one", Match(table, "/", headers: [("X-Env", "canary"), ("X-User", "carol")]));
        Assert.Equal("none", Match(table, "/", headers: [("X-Env", "Canary")]));
    }

    [Fact]
    public void Match_HeaderWithSeveralValues_AnyValueMatches()
    {
        var table = new RouteTable([R("tagged", M(headers: [H("x-tag", "b")]))]);

        Assert.Equal("tagged", Match(table, "/", headers: [("x-tag", "a"), ("x-tag", "b")]));
    }

    [Theory]
    // One condition each: the earlier route wins the tie, as Gateway API orders.
    [InlineData("?version=2", "regex")]
    [InlineData("?a=1&version=2&b", "v2")]
    [InlineData("?version=20", "regex")]
    [InlineData("?version=x", "none")]
    [InlineData("?versions=2", "none")]
    [InlineData("", "none")]
    public void Match_QueryParams_ExactAndRegex(string query, string expected)
    {
        var table = new RouteTable(
        [
            R("none", M()),
            R("regex", M(query: [H("version", "[0-9]+", "RegularExpression")])),
            R("v2", M(query: [H("version", "2"), H("a", "1")]), M(query: [H("version", "2")])),
        ]);

        Assert.Equal(expected, Match(table, "/", query: query));
    }

    [Fact]
    public void Match_AllConditionsOfOneMatchAreRequired_AnyMatchOfARouteSuffices()
    {
        var table = new RouteTable(
        [
            R("special", M("PathPrefix", "/api", "PUT", [H("x-a", "1")]), M("Exact", "/admin")),
        ]);

        Assert.Equal("special", Match(table, "/api/x", "PUT", "", ("x-a", "1")));
        Assert.Null(Match(table, "/api/x", "PUT"));
        Assert.Null(Match(table, "/api/x", "GET", "", ("x-a", "1")));
        Assert.Equal("special", Match(table, "/admin", "DELETE"));
    }

    [Fact]
    public void Match_HostPrecedenceComesBeforePath()
    {
        var table = new RouteTable(
        [
            R("any-exact", M("Exact", "/x")),
            Route("host") with { Hosts = new EquatableArray<string>(["example.com"]) },
        ]);

        Assert.Equal("host", Match(table, "/x"));
    }

    [Fact]
    public void Match_PrefixEntryRemembersItsPrefix_ForReplacePrefixMatch()
    {
        var table = new RouteTable([R("api", M("PathPrefix", "/api"), M("Exact", "/old"))]);

        Assert.Equal("/api", table.Match("h", "/api/x", new PathOnlyRouteRequest())?.MatchedPrefix);
        Assert.Null(table.Match("h", "/old", new PathOnlyRouteRequest())?.MatchedPrefix);
    }
}
