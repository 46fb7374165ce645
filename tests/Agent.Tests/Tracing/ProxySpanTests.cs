using System.Diagnostics;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Tracing;

namespace LoadBalancer.Agent.Tests.Tracing;

/// <summary>An ActivityListener is process-wide: these tests run alone, so no other test's requests are traced.</summary>
[CollectionDefinition(nameof(ProxySpanTests), DisableParallelization = true)]
public sealed class ProxySpanCollection;

[Collection(nameof(ProxySpanTests))]
public sealed class ProxySpanTests
{
    private const string Sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private static readonly RouteConfig Route = new(new[] { "shop.example.test" }.ToEquatableArray(), "/api", "web");

    [Fact]
    public void Start_WithoutListener_IsNull()
    {
        Assert.False(AgentTracing.Enabled);
        Assert.Null(ProxySpan.Start(Sampled, null, 1.0, "GET", "shop.example.test", "/api/x", "public", Route));
    }

    [Fact]
    public void StartAndEnd_SampledParent_RecordsServerSpanWithAttributes()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(stopped);
        var backend = new BackendState("web", "web-1", "127.0.0.1", 8081);

        var span = ProxySpan.Start(Sampled, "vendor=x", 0, "POST", "shop.example.test:8443", "/api/orders", "public", Route);
        Assert.NotNull(span);
        Assert.Same(span, Activity.Current);
        ProxySpan.End(span, backend, retries: 2, status: 503);

        var recorded = Assert.Single(stopped);
        Assert.Equal(ActivityKind.Server, recorded.Kind);
        Assert.Equal("POST /api", recorded.DisplayName);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", recorded.TraceId.ToHexString());
        Assert.Equal("b7ad6b7169203331", recorded.ParentSpanId.ToHexString());
        Assert.Equal("vendor=x", recorded.TraceStateString);
        Assert.Equal("POST", recorded.GetTagItem("http.request.method"));
        Assert.Equal("shop.example.test", recorded.GetTagItem("server.address"));
        Assert.Equal("/api/orders", recorded.GetTagItem("url.path"));
        Assert.Equal("public", recorded.GetTagItem("lb.listener"));
        Assert.Equal("shop.example.test/api", recorded.GetTagItem("lb.route"));
        Assert.Equal("web", recorded.GetTagItem("lb.pool"));
        Assert.Equal("127.0.0.1:8081", recorded.GetTagItem("lb.backend"));
        Assert.Equal(2, recorded.GetTagItem("lb.retries"));
        Assert.Equal(503, recorded.GetTagItem("http.response.status_code"));
        Assert.Equal(ActivityStatusCode.Error, recorded.Status);
        Assert.Null(Activity.Current);
    }

    [Fact]
    public void End_ClientErrorOrClientGone_IsNotAnError()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(stopped);
        var any = new RouteConfig(default, "/", "web");

        ProxySpan.End(ProxySpan.Start(Sampled, null, 0, "GET", "h", "/", "l", any)!, null, 0, 404);
        ProxySpan.End(ProxySpan.Start(Sampled, null, 0, "GET", "h", "/", "l", any)!, null, 0, 0);

        Assert.All(stopped, a => Assert.Equal(ActivityStatusCode.Unset, a.Status));
        Assert.Equal("*/", stopped[0].GetTagItem("lb.route"));
        Assert.Null(stopped[1].GetTagItem("http.response.status_code"));
    }

    [Fact]
    public void TraceParent_NamesTheSpanAsTheBackendsParent()
    {
        using var listener = Listen([]);
        var span = ProxySpan.Start(Sampled, null, 0, "GET", "h", "/", "l", Route)!;

        var header = ProxySpan.TraceParent(span);

        Assert.Equal($"00-0af7651916cd43dd8448eb211c80319c-{span.SpanId.ToHexString()}-01", header);
        Assert.NotEqual("b7ad6b7169203331", span.SpanId.ToHexString());
        span.Stop();
    }

    [Theory]
    [InlineData("shop.example.test", "shop.example.test")]
    [InlineData("shop.example.test:8443", "shop.example.test")]
    [InlineData("[::1]:8080", "::1")]
    [InlineData("[::1]", "::1")]
    [InlineData("", "")]
    public void HostWithoutPort_DropsThePort(string host, string expected)
    {
        Assert.Equal(expected, ProxySpan.HostWithoutPort(host));
    }

    private static ActivityListener Listen(List<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AgentTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
