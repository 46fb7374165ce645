using LoadBalancer.Agent.Proxy;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

public sealed class RouteTableTests
{
    // Listed least specific first, so that input order cannot explain the results.
    private static readonly RouteTable HostTable = new(
    [
        Route("any"),
        Route("wild", "/", "*.example.com"),
        Route("exact", "/", "api.example.com"),
    ]);

    [Fact]
    public void Match_ExactHostBeatsWildcard() =>
        Assert.Equal("exact", HostTable.Match("api.example.com", "/")?.Pool);

    [Fact]
    public void Match_WildcardBeatsAnyHost() =>
        Assert.Equal("wild", HostTable.Match("www.example.com", "/")?.Pool);

    [Fact]
    public void Match_UnknownHost_FallsBackToAnyHost() =>
        Assert.Equal("any", HostTable.Match("other.org", "/")?.Pool);

    [Fact]
    public void Match_HostIsCaseInsensitive() =>
        Assert.Equal("exact", HostTable.Match("API.Example.COM", "/")?.Pool);

    [Theory]
    [InlineData("a.example.com", "wild")]
    [InlineData("a.b.example.com", "wild")]
    [InlineData("example.com", null)]
    [InlineData("notexample.com", null)]
    [InlineData("example.com.evil.net", null)]
    public void Match_WildcardCoversSubdomainsOnly_NotBareDomain(string host, string? expected)
    {
        var table = new RouteTable([Route("wild", "/", "*.example.com")]);

        Assert.Equal(expected, table.Match(host, "/")?.Pool);
    }

    [Fact]
    public void Match_LongerWildcardSuffixWins()
    {
        var table = new RouteTable([Route("short", "/", "*.example.com"), Route("long", "/", "*.api.example.com")]);

        Assert.Equal("long", table.Match("v1.api.example.com", "/")?.Pool);
        Assert.Equal("short", table.Match("www.example.com", "/")?.Pool);
    }

    [Theory]
    [InlineData("/", "root")]
    [InlineData("/other", "root")]
    [InlineData("/api", "api")]
    [InlineData("/api/v1", "api")]
    [InlineData("/api/v2", "v2")]
    [InlineData("/api/v2/users", "v2")]
    public void Match_LongestPathPrefixWins(string path, string expected)
    {
        var table = new RouteTable([Route("root", "/"), Route("v2", "/api/v2"), Route("api", "/api")]);

        Assert.Equal(expected, table.Match("any.host", path)?.Pool);
    }

    [Theory]
    [InlineData("/api", true)]
    [InlineData("/api/", true)]
    [InlineData("/api/x", true)]
    [InlineData("/apix", false)]
    [InlineData("/ap", false)]
    [InlineData("/API", false)]
    [InlineData("/", false)]
    public void Match_PathPrefixEndsAtSegmentBoundary(string path, bool matches)
    {
        var table = new RouteTable([Route("api", "/api")]);

        Assert.Equal(matches ? "api" : null, table.Match("h", path)?.Pool);
    }

    [Fact]
    public void Match_PrefixEndingWithSlash_MatchesBelowIt()
    {
        var table = new RouteTable([Route("api", "/api/")]);

        Assert.Equal("api", table.Match("h", "/api/x")?.Pool);
        Assert.Null(table.Match("h", "/apix")?.Pool);
    }

    [Theory]
    [InlineData("api.example.com:8080")]
    [InlineData("api.example.com:443")]
    public void Match_HostWithPort_IgnoresPort(string host) =>
        Assert.Equal("exact", HostTable.Match(host, "/")?.Pool);

    [Theory]
    [InlineData("[::1]")]
    [InlineData("[::1]:8080")]
    public void Match_Ipv6Literal_MatchesWithAndWithoutPort(string host)
    {
        var table = new RouteTable([Route("v6", "/", "[::1]"), Route("v6-other", "/", "[2001:db8::1]")]);

        Assert.Equal("v6", table.Match(host, "/")?.Pool);
    }

    [Fact]
    public void Match_Ipv6LiteralWithPort_IsNotConfusedWithAnotherAddress()
    {
        var table = new RouteTable([Route("v6", "/", "[2001:db8::1]")]);

        Assert.Equal("v6", table.Match("[2001:db8::1]:443", "/")?.Pool);
        Assert.Null(table.Match("[2001:db8::2]:443", "/")?.Pool);
    }

    [Fact]
    public void Match_NoRouteMatches_ReturnsNull()
    {
        var table = new RouteTable([Route("a", "/a", "a.test"), Route("b", "/b")]);

        Assert.Null(table.Match("a.test", "/c")?.Pool);
        Assert.Null(table.Match("x.test", "/a")?.Pool);
    }

    [Fact]
    public void Match_EmptyTable_ReturnsNull() =>
        Assert.Null(new RouteTable([]).Match("h", "/")?.Pool);

    [Fact]
    public void Match_ExactHostWithLongerPath_BeatsExactHostRoot()
    {
        var table = new RouteTable([Route("root", "/", "h.test"), Route("api", "/api", "h.test")]);

        Assert.Equal("api", table.Match("h.test", "/api/x")?.Pool);
        Assert.Equal("root", table.Match("h.test", "/web")?.Pool);
    }

    [Fact]
    public void Match_SameHostAndPrefix_FirstListedRouteWins()
    {
        var table = new RouteTable([Route("first", "/x", "h.test"), Route("second", "/x", "h.test")]);

        Assert.Equal("first", table.Match("h.test", "/x")?.Pool);
    }

    [Fact]
    public void Count_CountsEachHostOfEachRoute()
    {
        var table = new RouteTable([Route("a", "/", "a.test", "b.test"), Route("c")]);

        Assert.Equal(3, table.Count);
    }
}
