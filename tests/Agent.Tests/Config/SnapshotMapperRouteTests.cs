using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Tests.Config;

/// <summary>A snapshot route's matches, split and filters reach <see cref="RouteConfig"/>; an inconsistent one is refused whole.</summary>
public sealed class SnapshotMapperRouteTests
{
    private static SnapshotData Data(SnapshotRoute route)
    {
        var data = new SnapshotData { Tier = "edge" };
        data.Pools.Add(new SnapshotPool { Name = "blue", Backends = { new SnapshotBackend { Name = "b1", Host = "127.0.0.1", Port = 8080 } } });
        data.Pools.Add(new SnapshotPool { Name = "green", Backends = { new SnapshotBackend { Name = "g1", Host = "127.0.0.1", Port = 8081 } } });
        data.Listeners.Add(new SnapshotListener { Name = "public", Port = 80, Protocol = "http", Routes = { route } });
        return data;
    }

    [Fact]
    public void Map_MatchesSplitAndFilters()
    {
        var route = new SnapshotRoute
        {
            Matches =
            {
                new RouteMatch
                {
                    Path = new PathMatch { Type = "Exact", Value = "/a" },
                    Method = "POST",
                    Headers = { new ValueMatch { Type = "RegularExpression", Name = "x-user", Value = "a.*" } },
                    QueryParams = { new ValueMatch { Name = "v", Value = "1" } },
                },
            },
            Backends = { new RouteBackend { Pool = "blue", Weight = 90 }, new RouteBackend { Pool = "green", Weight = 10 } },
            Filters =
            {
                new RouteFilter { Type = "URLRewrite", UrlRewrite = new UrlRewriteFilter { Hostname = "in.example", Path = new PathModifier { Type = "ReplaceFullPath", ReplaceFullPath = "/b" } } },
                new RouteFilter { Type = "ResponseHeaderModifier", ResponseHeaderModifier = new HeaderModifierFilter { Remove = { "server" } } },
            },
        };

        var mapped = SnapshotMapper.Map(1, "h", Data(route)).Listeners.Single().Routes.Single();

        var match = mapped.Matches.Single();
        Assert.Equal(("Exact", "/a", "POST"), (match.PathType, match.PathValue, match.Method));
        Assert.Equal(new ValueMatchConfig("RegularExpression", "x-user", "a.*"), match.Headers.Single());
        Assert.Equal(new ValueMatchConfig("Exact", "v", "1"), match.QueryParams.Single());
        Assert.Equal([new WeightedPoolConfig("blue", 90), new WeightedPoolConfig("green", 10)], mapped.Backends);
        Assert.Equal(new RewriteConfig("in.example", new PathModifierConfig("ReplaceFullPath", "/b")), mapped.Rewrite);
        Assert.Equal(["server"], mapped.ResponseHeaders!.Remove);
        Assert.True(mapped.HasFilters);
    }

    [Fact]
    public void Map_RedirectDefaultsTo301()
    {
        var route = new SnapshotRoute { Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = new RequestRedirectFilter { Scheme = "https" } } } };

        var mapped = SnapshotMapper.Map(1, "h", Data(route)).Listeners.Single().Routes.Single();

        Assert.Equal(new RedirectConfig("https", string.Empty, 0, null, 301), mapped.Redirect);
    }

    [Theory]
    [InlineData("missing", 1, "missing pool")]
    [InlineData("blue", 0, "sum to 0")]
    public void Map_BadSplit_IsRefusedWhole(string pool, int weight, string expected)
    {
        var route = new SnapshotRoute { Backends = { new RouteBackend { Pool = pool, Weight = weight } } };

        var ex = Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Map(1, "h", Data(route)));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_InvalidRegex_IsRefusedWhole()
    {
        var route = new SnapshotRoute { Pool = "blue", Matches = { new RouteMatch { Path = new PathMatch { Type = "RegularExpression", Value = "(" } } } };

        var ex = Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Map(1, "h", Data(route)));
        Assert.Contains("regular expression", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_UnknownFilter_IsRefusedWhole()
    {
        var route = new SnapshotRoute { Pool = "blue", Filters = { new RouteFilter { Type = "RequestMirror" } } };

        Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Map(1, "h", Data(route)));
    }

    [Fact]
    public void Map_NoPoolNoRedirect_IsRefusedWhole() =>
        Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Map(1, "h", Data(new SnapshotRoute())));

    [Fact]
    public void Map_RouteTimeoutAndRetries_OnlyWhenSet()
    {
        var set = SnapshotMapper.Map(1, "h", Data(new SnapshotRoute { Pool = "blue", BackendRequestTimeoutMs = 1500, Retries = 0 })).Listeners.Single().Routes.Single();
        var unset = SnapshotMapper.Map(1, "h", Data(new SnapshotRoute { Pool = "blue" })).Listeners.Single().Routes.Single();

        Assert.Equal((TimeSpan.FromMilliseconds(1500), (int?)0), (set.BackendRequestTimeout, set.Retries));
        Assert.Equal((TimeSpan.Zero, (int?)null), (unset.BackendRequestTimeout, unset.Retries));
    }
}
