using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;
using Route = LoadBalancer.Api.V1.Route;

namespace LoadBalancer.ControlPlane.Tests.Validation;

/// <summary>Routes' matches, weighted backends and filters: each bad input refused naming its field, nothing written.</summary>
public sealed class RouteValidationTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync()
    {
        _f = await StoreFixture.CreateAsync();
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, _f.Context);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web-v2") }, _f.Context);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("db", "tcp") }, _f.Context);
    }

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private static Listener WithRoute(Route route, string protocol = "http") => new()
    {
        Metadata = new ObjectMeta { Name = "edge" },
        Spec = new ListenerSpec { Tier = "edge", Port = 8080, Protocol = protocol, Routes = { route } },
    };

    private Task<Listener> Create(Route route) => _f.Service.CreateListener(new WriteListenerRequest { Listener = WithRoute(route) }, _f.Context);

    /// <summary>Refused naming the field; the store's revision and listeners are untouched.</summary>
    private async Task<string> Rejects(Route route, string field, string protocol = "http")
    {
        var revision = await _f.RevisionAsync();
        var description = await RpcAssert.FieldViolationAsync(
            () => _f.Service.CreateListener(new WriteListenerRequest { Listener = WithRoute(route, protocol) }, _f.Context), field);
        Assert.Equal(revision, await _f.RevisionAsync());
        Assert.Equal(0, await _f.WithDbAsync(db => db.Listeners.CountAsync()));
        return description;
    }

    private static RouteMatch PathMatch(string type, string value) => new() { Path = new PathMatch { Type = type, Value = value } };

    [Fact]
    public async Task Create_FullRoute_IsAcceptedAndReadBack()
    {
        var route = new Route
        {
            Hosts = { "Example.COM" },
            Matches =
            {
                new RouteMatch
                {
                    Path = new PathMatch { Type = "RegularExpression", Value = "/api/v[0-9]+/.*" },
                    Method = "GET",
                    Headers = { new ValueMatch { Name = "x-env", Value = "canary" } },
                    QueryParams = { new ValueMatch { Type = "RegularExpression", Name = "v", Value = "[0-9]+" } },
                },
            },
            Backends = { new RouteBackend { Pool = "WEB", Weight = 90 }, new RouteBackend { Pool = "web-v2", Weight = 10 } },
            Filters =
            {
                new RouteFilter { Type = "URLRewrite", UrlRewrite = new UrlRewriteFilter { Hostname = "internal.example.com", Path = new PathModifier { Type = "ReplaceFullPath", ReplaceFullPath = "/v2" } } },
                new RouteFilter { Type = "RequestHeaderModifier", RequestHeaderModifier = new HeaderModifierFilter { Set = { new HeaderValue { Name = "x-route", Value = "a" } }, Remove = { "x-debug" } } },
                new RouteFilter { Type = "ResponseHeaderModifier", ResponseHeaderModifier = new HeaderModifierFilter { Add = { new HeaderValue { Name = "x-served-by", Value = "lb" } } } },
            },
        };

        var created = await Create(route);

        Assert.Equal("web", created.Spec.Routes[0].Backends[0].Pool);
        Assert.Equal(3, created.Spec.Routes[0].Filters.Count);
        Assert.Equal("[0-9]+", created.Spec.Routes[0].Matches[0].QueryParams[0].Value);
    }

    [Fact]
    public async Task Create_RedirectOnlyRoute_NeedsNoPool()
    {
        var created = await Create(new Route { Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = new RequestRedirectFilter { Scheme = "https", StatusCode = 308 } } } });

        Assert.Equal(308, created.Spec.Routes[0].Filters[0].RequestRedirect.StatusCode);
    }

    [Theory]
    [InlineData("RegularExpression", "/api/(", "invalid regular expression")]
    [InlineData("RegularExpression", "(a)\\1", "invalid regular expression")]
    [InlineData("RegularExpression", "(?=a)b", "invalid regular expression")]
    public async Task Create_InvalidPathRegex_IsRefused(string type, string value, string expected)
    {
        var description = await Rejects(new Route { Pool = "web", Matches = { new RouteMatch(), PathMatch(type, value) } }, "spec.routes[0].matches[1].path.value");
        Assert.Contains(expected, description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_OverlongRegex_IsRefused() =>
        await Rejects(new Route { Pool = "web", Matches = { PathMatch("RegularExpression", new string('a', 2000)) } }, "spec.routes[0].matches[0].path.value");

    [Theory]
    [InlineData("Prefix", "/", "spec.routes[0].matches[0].path.type")]
    [InlineData("Exact", "api", "spec.routes[0].matches[0].path.value")]
    [InlineData("PathPrefix", "/a b", "spec.routes[0].matches[0].path.value")]
    public async Task Create_BadPath_IsRefused(string type, string value, string field) =>
        await Rejects(new Route { Pool = "web", Matches = { PathMatch(type, value) } }, field);

    [Fact]
    public async Task Create_BadMethod_IsRefused() =>
        await Rejects(new Route { Pool = "web", Matches = { new RouteMatch { Method = "get" } } }, "spec.routes[0].matches[0].method");

    [Theory]
    [InlineData("x-a:b", "v", "spec.routes[0].matches[0].headers[0].name")]
    [InlineData("x-a\r\nx-b", "v", "spec.routes[0].matches[0].headers[0].name")]
    [InlineData("x-a", "v\r\nx-b: 1", "spec.routes[0].matches[0].headers[0].value")]
    public async Task Create_BadHeaderMatch_IsRefused(string name, string value, string field) =>
        await Rejects(new Route { Pool = "web", Matches = { new RouteMatch { Headers = { new ValueMatch { Name = name, Value = value } } } } }, field);

    [Fact]
    public async Task Create_BadQueryRegex_IsRefused() =>
        await Rejects(new Route { Pool = "web", Matches = { new RouteMatch { QueryParams = { new ValueMatch { Type = "RegularExpression", Name = "q", Value = "[" } } } } }, "spec.routes[0].matches[0].queryParams[0].value");

    [Fact]
    public async Task Create_PathPrefixBesideMatches_IsRefused() =>
        await Rejects(new Route { Pool = "web", PathPrefix = "/api", Matches = { new RouteMatch() } }, "spec.routes[0].pathPrefix");

    [Fact]
    public async Task Create_SplitSummingToZero_IsRefused()
    {
        var description = await Rejects(new Route { Backends = { new RouteBackend { Pool = "web", Weight = 0 }, new RouteBackend { Pool = "web-v2", Weight = 0 } } }, "spec.routes[0].backends");
        Assert.Contains("sum to 0", description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task Create_WeightOutOfRange_IsRefused(int weight) =>
        await Rejects(new Route { Backends = { new RouteBackend { Pool = "web", Weight = weight } } }, "spec.routes[0].backends[0].weight");

    [Fact]
    public async Task Create_PoolAndBackends_IsRefused() =>
        await Rejects(new Route { Pool = "web", Backends = { new RouteBackend { Pool = "web-v2" } } }, "spec.routes[0].backends");

    [Theory]
    [InlineData("missing")]
    [InlineData("db")]
    public async Task Create_SplitToMissingOrTcpPool_IsRefused(string pool) =>
        await Rejects(new Route { Backends = { new RouteBackend { Pool = "web" }, new RouteBackend { Pool = pool } } }, "spec.routes[0].backends[1].pool");

    [Fact]
    public async Task Create_NoPoolNoRedirect_IsRefused() =>
        await Rejects(new Route(), "spec.routes[0].pool");

    private static Route Redirect(RequestRedirectFilter redirect) =>
        new() { Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = redirect } } };

    [Fact]
    public async Task Create_RedirectToInvalidHost_IsRefused() =>
        await Rejects(Redirect(new RequestRedirectFilter { Hostname = "bad host!" }), "spec.routes[0].filters[0].requestRedirect.hostname");

    [Theory]
    [InlineData(0)]
    [InlineData(70000)]
    public async Task Create_RedirectToInvalidPort_IsRefused(int port) =>
        await Rejects(Redirect(new RequestRedirectFilter { Port = port }), "spec.routes[0].filters[0].requestRedirect.port");

    [Theory]
    [InlineData(200)]
    [InlineData(304)]
    public async Task Create_RedirectWithInvalidStatus_IsRefused(int status) =>
        await Rejects(Redirect(new RequestRedirectFilter { StatusCode = status }), "spec.routes[0].filters[0].requestRedirect.statusCode");

    [Fact]
    public async Task Create_RedirectWithInvalidScheme_IsRefused() =>
        await Rejects(Redirect(new RequestRedirectFilter { Scheme = "ftp" }), "spec.routes[0].filters[0].requestRedirect.scheme");

    [Fact]
    public async Task Create_RedirectBesidePool_IsRefused()
    {
        var route = Redirect(new RequestRedirectFilter { Scheme = "https" });
        route.Pool = "web";
        await Rejects(route, "spec.routes[0].pool");
    }

    [Fact]
    public async Task Create_ReplacePrefixMatchOnExactMatch_IsRefused()
    {
        var route = new Route
        {
            Pool = "web",
            Matches = { PathMatch("Exact", "/a") },
            Filters = { new RouteFilter { Type = "URLRewrite", UrlRewrite = new UrlRewriteFilter { Path = new PathModifier { Type = "ReplacePrefixMatch", ReplacePrefixMatch = "/b" } } } },
        };
        await Rejects(route, "spec.routes[0].filters[0].urlRewrite.path.type");
    }

    [Theory]
    [InlineData("x-a:b", "v", "spec.routes[0].filters[0].requestHeaderModifier.set[0].name")]
    [InlineData("x-a\r\n", "v", "spec.routes[0].filters[0].requestHeaderModifier.set[0].name")]
    [InlineData(":authority", "v", "spec.routes[0].filters[0].requestHeaderModifier.set[0].name")]
    [InlineData("Connection", "close", "spec.routes[0].filters[0].requestHeaderModifier.set[0].name")]
    [InlineData("Transfer-Encoding", "chunked", "spec.routes[0].filters[0].requestHeaderModifier.set[0].name")]
    [InlineData("x-a", "v\r\nx-b: 1", "spec.routes[0].filters[0].requestHeaderModifier.set[0].value")]
    public async Task Create_BadHeaderModifier_IsRefused(string name, string value, string field) =>
        await Rejects(new Route
        {
            Pool = "web",
            Filters = { new RouteFilter { Type = "RequestHeaderModifier", RequestHeaderModifier = new HeaderModifierFilter { Set = { new HeaderValue { Name = name, Value = value } } } } },
        }, field);

    [Fact]
    public async Task Create_FilterWithoutItsObject_OrWithAnother_IsRefused()
    {
        await Rejects(new Route { Pool = "web", Filters = { new RouteFilter { Type = "URLRewrite" } } }, "spec.routes[0].filters[0].urlRewrite");
        await Rejects(new Route
        {
            Pool = "web",
            Filters = { new RouteFilter { Type = "URLRewrite", UrlRewrite = new UrlRewriteFilter { Hostname = "a.example" }, RequestHeaderModifier = new HeaderModifierFilter { Remove = { "x" } } } },
        }, "spec.routes[0].filters[0].requestHeaderModifier");
    }

    [Theory]
    [InlineData("Rewrite")]
    [InlineData("RequestMirror")]
    public async Task Create_UnknownOrUnsupportedFilter_IsRefused(string type) =>
        await Rejects(new Route { Pool = "web", Filters = { new RouteFilter { Type = type } } }, "spec.routes[0].filters[0].type");

    [Fact]
    public async Task Create_FilterOnTcpListener_IsRefused()
    {
        var revision = await _f.RevisionAsync();
        var listener = new Listener
        {
            Metadata = new ObjectMeta { Name = "db" },
            Spec = new ListenerSpec
            {
                Tier = "data", Port = 5432, Protocol = "tcp", Pool = "db",
                Routes = { new Route { Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = new RequestRedirectFilter { Scheme = "https" } } } } },
            },
        };
        await RpcAssert.FieldViolationAsync(() => _f.Service.CreateListener(new WriteListenerRequest { Listener = listener }, _f.Context), "spec.routes");
        Assert.Equal(revision, await _f.RevisionAsync());
    }

    [Fact]
    public async Task Create_RoutesSharingHostAndPath_AreAllowedWhenMatchesTellThemApart()
    {
        var listener = WithRoute(new Route { Pool = "web", Matches = { new RouteMatch { Method = "GET" } } });
        listener.Spec.Routes.Add(new Route { Pool = "web-v2", Matches = { new RouteMatch { Method = "POST" } } });

        var created = await _f.Service.CreateListener(new WriteListenerRequest { Listener = listener }, _f.Context);

        Assert.Equal(2, created.Spec.Routes.Count);
    }

    [Fact]
    public async Task DeletePool_UsedOnlyInASplit_IsRefused()
    {
        await Create(new Route { Backends = { new RouteBackend { Pool = "web", Weight = 1 }, new RouteBackend { Pool = "web-v2", Weight = 1 } } });

        await RpcAssert.StatusAsync(() => _f.Service.DeletePool(new DeleteRequest { Name = "web-v2" }, _f.Context), Grpc.Core.StatusCode.FailedPrecondition);
    }

    [Fact]
    public async Task Create_BadRouteTimeout_IsRefused() =>
        await Rejects(new Route { Pool = "web", Timeouts = new RouteTimeouts { BackendRequest = "soon" } }, "spec.routes[0].timeouts.backendRequest");

    [Theory]
    [InlineData(-1)]
    [InlineData(11)]
    public async Task Create_RouteRetriesOutOfRange_IsRefused(int retries) =>
        await Rejects(new Route { Pool = "web", Retries = retries }, "spec.routes[0].retries");

    [Fact]
    public async Task Create_RedirectAndRewriteHostnames_AreLowercased()
    {
        var listener = WithRoute(new Route { Hosts = { "a.example.com" }, Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = new RequestRedirectFilter { Hostname = "WWW.Example.COM" } } } });
        listener.Spec.Routes.Add(new Route { Pool = "web", Filters = { new RouteFilter { Type = "URLRewrite", UrlRewrite = new UrlRewriteFilter { Hostname = "Internal.Example.COM" } } } });

        var created = await _f.Service.CreateListener(new WriteListenerRequest { Listener = listener }, _f.Context);

        Assert.Equal("www.example.com", created.Spec.Routes[0].Filters[0].RequestRedirect.Hostname);
        Assert.Equal("internal.example.com", created.Spec.Routes[1].Filters[0].UrlRewrite.Hostname);
    }
}
