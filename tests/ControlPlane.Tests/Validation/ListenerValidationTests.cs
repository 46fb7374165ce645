using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class ListenerValidationTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync()
    {
        _f = await StoreFixture.CreateAsync();
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web") }, _f.Context);
        await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("db", "tcp") }, _f.Context);
    }

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private Task<Listener> Create(Listener listener) => _f.Service.CreateListener(new WriteListenerRequest { Listener = listener }, _f.Context);

    private Task<string> Rejects(Listener listener, string field) => RpcAssert.FieldViolationAsync(() => Create(listener), field);

    [Theory]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0.0")]
    [InlineData("10.0.0.0/33")]
    [InlineData("proxy.internal/24")]
    public async Task Create_TrustedProxyNotACidr_IsRejectedWithFieldViolation(string cidr)
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.TrustedProxies.Add(cidr)), "spec.trustedProxies[0]");
    }

    [Fact]
    public async Task Create_TrustedProxies_AcceptsIpv4AndIpv6Cidrs_AndNotOnTcp()
    {
        var created = await Create(HttpListener("public", "edge", 8080, "web", s => s.TrustedProxies.AddRange(["10.0.0.0/8", "fd00::/8"])));
        Assert.Equal(["10.0.0.0/8", "fd00::/8"], created.Spec.TrustedProxies);
        await Rejects(new Listener { Metadata = new ObjectMeta { Name = "db" }, Spec = new ListenerSpec { Tier = "data", Port = 5432, Protocol = "tcp", Pool = "db", TrustedProxies = { "10.0.0.0/8" } } }, "spec.trustedProxies");
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public async Task Create_TracingSamplingRatioOutOfRange_IsRejectedWithFieldViolation(double ratio)
    {
        var message = await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Tracing = new ListenerTracing { SamplingRatio = ratio }), "spec.tracing.samplingRatio");
        Assert.Contains("from 0 to 1", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_TracingSamplingRatio_IsKept_AndNotAllowedOnTcp()
    {
        var created = await Create(HttpListener("public", "edge", 8080, "web", s => s.Tracing = new ListenerTracing { SamplingRatio = 0.25 }));
        Assert.Equal(0.25, created.Spec.Tracing.SamplingRatio);
        await Rejects(new Listener { Metadata = new ObjectMeta { Name = "db" }, Spec = new ListenerSpec { Tier = "data", Port = 5432, Protocol = "tcp", Pool = "db", Tracing = new ListenerTracing() } }, "spec.tracing");
    }

    [Fact]
    public async Task Create_TcpListenerAcceptingProxyProtocol_KeepsItsTrustedSources()
    {
        var created = await Create(TcpListener("db", "data", 5432, "db", s => s.ProxyProtocol = new ProxyProtocolAccept { TrustedSources = { "10.0.0.0/8", "fd00::/8" } }));
        Assert.Equal(["10.0.0.0/8", "fd00::/8"], created.Spec.ProxyProtocol.TrustedSources);
    }

    [Theory]
    [InlineData("10.0.0.1/8", "spec.proxyProtocol.trustedSources[0]")]
    [InlineData("lb.internal", "spec.proxyProtocol.trustedSources[0]")]
    [InlineData(null, "spec.proxyProtocol.trustedSources")]
    public async Task Create_ProxyProtocolWithoutValidTrustedSources_IsRejected_AndNothingIsWritten(string? cidr, string field)
    {
        var description = await Rejects(TcpListener("db", "data", 5432, "db", s => s.ProxyProtocol = cidr is null ? new ProxyProtocolAccept() : new ProxyProtocolAccept { TrustedSources = { cidr } }), field);
        Assert.False(string.IsNullOrWhiteSpace(description));
        Assert.Empty((await _f.Service.ListListeners(new ListRequest(), _f.Context)).Items);
    }

    [Fact]
    public async Task Create_ProxyProtocolOnAnHttpListener_IsAccepted_AndValidatedAlike()
    {
        await Create(HttpListener("public", "edge", 8080, "web", s => s.ProxyProtocol = new ProxyProtocolAccept { TrustedSources = { "10.0.0.0/8" } }));
        await Rejects(HttpListener("other", "edge", 8081, "web", s => s.ProxyProtocol = new ProxyProtocolAccept { TrustedSources = { "10.0.0.0/33" } }), "spec.proxyProtocol.trustedSources[0]");
    }

    [Theory]
    [InlineData("allow", "10.0.0.1/8")]
    [InlineData("deny", "not-a-network")]
    public async Task Create_AllowOrDenyNotACidr_IsRejectedNamingTheEntry(string field, string cidr)
    {
        await Rejects(TcpListener("db", "data", 5432, "db", s => (field == "allow" ? s.Allow : s.Deny).Add(cidr)), $"spec.{field}[0]");
        Assert.Empty((await _f.Service.ListListeners(new ListRequest(), _f.Context)).Items);
    }

    [Fact]
    public async Task Create_AllowAndDeny_AreKeptOnEveryProtocol()
    {
        var created = await Create(HttpListener("public", "edge", 8080, "web", s => { s.Allow.Add("10.0.0.0/8"); s.Deny.Add("10.1.0.0/16"); }));
        Assert.Equal(["10.0.0.0/8"], created.Spec.Allow);
        Assert.Equal(["10.1.0.0/16"], created.Spec.Deny);
        await Create(TcpListener("db", "data", 5432, "db", s => s.Deny.Add("fd00::/8")));
    }

    [Theory]
    [InlineData("http", "modern", "only allowed for protocol https")]
    [InlineData("tcp", "intermediate", "only allowed for protocol https")]
    [InlineData("https", "old", "is not one of modern")]
    public async Task Create_TlsPolicy_OnlyModernOrIntermediate_OnHttps(string protocol, string policy, string rule)
    {
        var listener = protocol == "tcp"
            ? TcpListener("l", "data", 5432, "db", s => s.TlsPolicy = policy)
            : HttpListener("l", "edge", 8443, "web", s => { s.Protocol = protocol; s.TlsPolicy = policy; });
        var description = await Rejects(listener, "spec.tlsPolicy");
        Assert.Contains(rule, description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_HttpListener_LowercasesHostsAndReferences()
    {
        var created = await Create(HttpListener("Public", "Edge", 8080, "WEB", s => s.Routes[0].Hosts.Add("WWW.Example.COM")));
        Assert.Equal("public", created.Metadata.Name);
        Assert.Equal("edge", created.Spec.Tier);
        Assert.Equal("web", created.Spec.Routes[0].Pool);
        Assert.Equal("www.example.com", created.Spec.Routes[0].Hosts[0]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(70000)]
    [InlineData(-1)]
    public async Task Create_PortOutOfRange_IsRejectedWithFieldViolation(int port)
    {
        await Rejects(HttpListener("public", "edge", port, "web"), "spec.port");
    }

    [Fact]
    public async Task Create_PortUsedInSameTier_IsRejectedNamingTheOtherListener()
    {
        await Create(HttpListener("first", "edge", 8080, "web"));
        var description = await Rejects(HttpListener("second", "edge", 8080, "web"), "spec.port");
        Assert.Contains("first", description, StringComparison.Ordinal);
        await Create(HttpListener("other-tier", "internal", 8080, "web"));
    }

    [Fact]
    public async Task Apply_PortClashWithinSameApply_IsRejectedWithPrefixedField()
    {
        var ex = await RpcAssert.StatusAsync(() => _f.Service.Apply(new ApplyRequest
        {
            Resources = { R(HttpListener("a", "edge", 9000, "web")), R(HttpListener("b", "edge", 9000, "web")) },
        }, _f.Context), Grpc.Core.StatusCode.InvalidArgument);
        var fields = RpcAssert.Violations(ex).Select(v => v.Field).ToList();
        Assert.Contains("Listener/a: spec.port", fields);
        Assert.Contains("Listener/b: spec.port", fields);
    }

    [Fact]
    public async Task Create_MissingTier_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "", 8080, "web"), "spec.tier");
    }

    [Fact]
    public async Task Create_UnknownProtocol_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Protocol = "udp"), "spec.protocol");
    }

    [Fact]
    public async Task Create_HttpWithoutRoutes_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Routes.Clear()), "spec.routes");
    }

    [Fact]
    public async Task Create_HttpWithPool_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Pool = "web"), "spec.pool");
    }

    [Fact]
    public async Task Create_HttpWithCertificates_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Certificates.Add("x")), "spec.certificates");
    }

    [Fact]
    public async Task Create_RouteToMissingPool_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "nope"), "spec.routes[0].pool");
    }

    [Fact]
    public async Task Create_RouteToTcpPool_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "db"), "spec.routes[0].pool");
    }

    [Fact]
    public async Task Create_BadRouteHost_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Routes[0].Hosts.Add("bad host")), "spec.routes[0].hosts[0]");
    }

    [Fact]
    public async Task Create_WildcardHost_IsAccepted()
    {
        await Create(HttpListener("public", "edge", 8080, "web", s => s.Routes[0].Hosts.Add("*.example.com")));
    }

    [Fact]
    public async Task Create_PathPrefixWithoutSlash_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Routes[0].PathPrefix = "api"), "spec.routes[0].pathPrefix");
    }

    [Fact]
    public async Task Create_DuplicateHostAndPath_IsRejectedWithFieldViolation()
    {
        var description = await Rejects(HttpListener("public", "edge", 8080, "web", s =>
        {
            s.Routes[0].Hosts.Add("a.example.com");
            s.Routes.Add(new Route { Hosts = { "A.example.com" }, PathPrefix = "/", Pool = "web" });
        }), "spec.routes[1].hosts");
        Assert.Contains("routes[0]", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_TooManyRoutes_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s =>
        {
            for (var i = 0; i < 1000; i++)
            {
                s.Routes.Add(new Route { PathPrefix = $"/p{i}", Pool = "web" });
            }
        }), "spec.routes");
    }

    [Fact]
    public async Task Create_TooManyHostsInRoute_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpListener("public", "edge", 8080, "web", s => s.Routes[0].Hosts.AddRange(Enumerable.Range(0, 101).Select(i => $"h{i}.example.com"))), "spec.routes[0].hosts");
    }

    [Fact]
    public async Task Apply_SameListenerInOtherCase_IsUnchanged()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { Resources.R(HttpListener("public", "edge", 8080, "web", s => s.Routes[0].Hosts.Add("www.example.com"))) } }, _f.Context);
        var again = await _f.Service.Apply(new ApplyRequest { Resources = { Resources.R(HttpListener("PUBLIC", "EDGE", 8080, "Web", s => s.Routes[0].Hosts.Add("WWW.example.com"))) } }, _f.Context);
        Assert.Equal("unchanged", again.Results.Single().Action);
    }

    [Fact]
    public async Task Create_HttpsWithoutCertificates_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpsListener("public", "edge", 8443, "web"), "spec.certificates");
    }

    [Fact]
    public async Task Create_HttpsWithMissingCertificate_IsRejectedWithFieldViolation()
    {
        await Rejects(HttpsListener("public", "edge", 8443, "web", "nope"), "spec.certificates[0]");
    }

    [Fact]
    public async Task Create_TcpWithoutPool_IsRejectedWithFieldViolation()
    {
        await Rejects(TcpListener("pg", "data", 5432, ""), "spec.pool");
    }

    [Fact]
    public async Task Create_TcpWithHttpPool_IsRejectedWithFieldViolation()
    {
        await Rejects(TcpListener("pg", "data", 5432, "web"), "spec.pool");
    }

    [Fact]
    public async Task Create_TcpWithRoutes_IsRejectedWithFieldViolation()
    {
        var listener = TcpListener("pg", "data", 5432, "db");
        listener.Spec.Routes.Add(new Route { Pool = "web" });
        await Rejects(listener, "spec.routes");
    }

    [Fact]
    public async Task Create_TcpListener_IsAccepted()
    {
        var created = await Create(TcpListener("pg", "data", 5432, "db"));
        Assert.Equal("db", created.Spec.Pool);
    }
}
