using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using SpanKind = LoadBalancer.EndToEnd.Tests.Tracing.Otlp.Span.Types.SpanKind;

namespace LoadBalancer.EndToEnd.Tests.Tracing;

/// <summary>
/// Issue 23, tracing: a request through an edge agent (HTTP/1.1 fast path) and an internal agent
/// (YARP's path, fast path off) to a backend, with both agents and the control plane exporting
/// to a real OTLP/gRPC receiver in the test.
/// </summary>
public sealed class TracingTests
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    private const string ClientTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ClientSpanId = "00f067aa0ba902b7";
    private const string ClientTraceParent = "00-" + ClientTraceId + "-" + ClientSpanId + "-01";

    [Fact]
    public async Task Otel_RequestThroughEdgeAndInternal_IsOneTraceWithParentLinks_AndTheBackendGetsTheLastSpanAsParent()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var backend = await TraceparentBackend.StartAsync();
        await using var cluster = await TestCluster.StartAsync(environment: receiver.Environment, controlPlaneArgs: ["--otel"]);
        var (edgePort, internalPort) = await StartTiersAsync(cluster, backend, "--otel", edgeSamplingRatio: "1");

        // A sampled trace from the client: both agents continue it.
        await SendAsync(cluster, edgePort, "/continued", ClientTraceParent, "vendor=1");
        var edge = await SpanAsync(receiver, "continued", "edge-web", cluster);
        var inner = await SpanAsync(receiver, "continued", "internal-api", cluster);
        Assert.Equal(ClientTraceId, edge.TraceId);
        Assert.Equal(ClientSpanId, edge.ParentSpanId);
        Assert.Equal(ClientTraceId, inner.TraceId);
        Assert.Equal(edge.SpanId, inner.ParentSpanId);
        Assert.Equal($"00-{ClientTraceId}-{inner.SpanId}-01", backend.Seen("/continued")!.Value.TraceParent);
        Assert.Equal("vendor=1", backend.Seen("/continued")!.Value.TraceState);

        Assert.All(new[] { edge, inner }, span =>
        {
            Assert.Equal(SpanKind.Server, span.Kind);
            Assert.Equal("lb-agent", span.Service);
            Assert.Equal("GET", span.Attribute("http.request.method"));
            Assert.Equal("/continued", span.Attribute("url.path"));
            Assert.Equal("200", span.Attribute("http.response.status_code"));
            Assert.Equal("0", span.Attribute("lb.retries"));
            Assert.Equal("*/", span.Attribute("lb.route"));
        });
        Assert.Equal("edge-1", edge.Resource["service.instance.id"]);
        Assert.Equal("web", edge.Attribute("lb.pool"));
        Assert.Equal($"127.0.0.1:{internalPort.ToString(CultureInfo.InvariantCulture)}", edge.Attribute("lb.backend"));
        Assert.Equal("api", inner.Attribute("lb.pool"));
        Assert.Equal($"127.0.0.1:{backend.Port.ToString(CultureInfo.InvariantCulture)}", inner.Attribute("lb.backend"));

        // No traceparent: the edge listener's samplingRatio 1 starts a trace, the internal agent continues it.
        await SendAsync(cluster, edgePort, "/started", null, null);
        var root = await SpanAsync(receiver, "started", "edge-web", cluster);
        var child = await SpanAsync(receiver, "started", "internal-api", cluster);
        Assert.Equal(string.Empty, root.ParentSpanId);
        Assert.NotEqual(ClientTraceId, root.TraceId);
        Assert.Equal(root.TraceId, child.TraceId);
        Assert.Equal(root.SpanId, child.ParentSpanId);
        Assert.Equal($"00-{root.TraceId}-{child.SpanId}-01", backend.Seen("/started")!.Value.TraceParent);

        // An unsampled trace is passed on untouched and recorded nowhere (parent-based, whatever the ratio).
        const string unsampled = "00-" + ClientTraceId + "-" + ClientSpanId + "-00";
        await SendAsync(cluster, edgePort, "/unsampled", unsampled, null);
        Assert.Equal(unsampled, backend.Seen("/unsampled")!.Value.TraceParent);

        // The control plane traced the apply and the snapshot pushes it caused.
        await Wait.UntilAsync(() => Task.FromResult(receiver.Spans.Any(s => s.Service == "lb-controlplane" && s.Kind == SpanKind.Server && s.Name.Contains("lb.v1.Management", StringComparison.Ordinal))),
            Propagation, "the control plane's span of an API call", () => Describe(receiver));
        var publish = receiver.Spans.First(s => s.Service == "lb-controlplane" && s.Name == "publish snapshot" && s.Attribute("lb.tier") == "edge");
        Assert.NotNull(publish.Attribute("lb.revision"));
        Assert.NotNull(publish.Attribute("lb.agents"));
        Assert.DoesNotContain(receiver.Spans, s => s.Attribute("url.path") == "/unsampled");
    }

    [Fact]
    public async Task WithoutOtel_NoSpansAreExported_AndTheBackendSeesTheClientsTraceparent()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var backend = await TraceparentBackend.StartAsync();
        // The control plane traces (it proves the receiver gets what is exported); the agents do not.
        await using var cluster = await TestCluster.StartAsync(environment: receiver.Environment, controlPlaneArgs: ["--otel"]);
        var (edgePort, _) = await StartTiersAsync(cluster, backend, agentFlag: null, edgeSamplingRatio: "1");

        await SendAsync(cluster, edgePort, "/passed", ClientTraceParent, "vendor=1");
        Assert.Equal((ClientTraceParent, "vendor=1"), backend.Seen("/passed"));
        await SendAsync(cluster, edgePort, "/none", null, null);
        Assert.Equal(("-", "-"), backend.Seen("/none"));

        // An API call after the requests: once its span is in, the agents' would have been too.
        await cluster.Management.GetStatusAsync(new Api.V1.GetStatusRequest());
        await Wait.UntilAsync(() => Task.FromResult(receiver.Spans.Any(s => s.Name.Contains("GetStatus", StringComparison.Ordinal))),
            Propagation, "the control plane's span of GetStatus", () => Describe(receiver));
        Assert.DoesNotContain(receiver.Spans, s => s.Service != "lb-controlplane");
    }

    /// <summary>
    /// Edge listener (pool web: the internal listener) -> internal listener (pool api: the
    /// backend). The internal agent serves everything by YARP's path, the edge by the fast path.
    /// </summary>
    private static async Task<(int EdgePort, int InternalPort)> StartTiersAsync(TestCluster cluster, TraceparentBackend backend, string? agentFlag, string edgeSamplingRatio)
    {
        string[] flags = agentFlag is null ? [] : [agentFlag];
        await cluster.StartAgentAsync("edge", "edge-1", "127.0.0.1", flags);
        await cluster.StartAgentAsync("internal", "internal-1", "127.0.0.1", [.. flags, "--http-fast-path", "off"]);
        var edgePort = Ports.Free();
        var internalPort = Ports.Free();
        var apply = await cluster.ApplyAsync(Yaml.Join(
            Yaml.Pool("web"),
            Yaml.Backend("internal-tier", "web", internalPort),
            Yaml.Pool("api"),
            Yaml.Backend("api-1", "api", backend.Port),
            $$"""
            apiVersion: lb/v1
            kind: Listener
            metadata: {name: edge-web}
            spec:
              tier: edge
              port: {{edgePort.ToString(CultureInfo.InvariantCulture)}}
              protocol: http
              routes: [{pathPrefix: /, pool: web}]
              tracing: {samplingRatio: {{edgeSamplingRatio}}}
            ---

            """,
            Yaml.HttpListener("internal-api", "internal", internalPort, "api")));
        Assert.True(apply.ExitCode == 0, apply.ToString());
        await Wait.UntilAsync(async () => (await cluster.Http.GetAsync($"http://127.0.0.1:{edgePort.ToString(CultureInfo.InvariantCulture)}/healthz")).IsSuccessStatusCode,
            Propagation, "the edge to reach the backend through the internal tier", cluster.Diagnostics);
        return (edgePort, internalPort);
    }

    private static async Task SendAsync(TestCluster cluster, int port, string path, string? traceparent, string? tracestate)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}{path}");
        if (traceparent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        }
        if (tracestate is not null)
        {
            request.Headers.TryAddWithoutValidation("tracestate", tracestate);
        }
        using var response = await cluster.Http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<ReceivedSpan> SpanAsync(OtlpReceiver receiver, string path, string listener, TestCluster cluster)
    {
        ReceivedSpan? found = null;
        await Wait.UntilAsync(
            () => Task.FromResult((found = receiver.Spans.FirstOrDefault(s => s.Attribute("url.path") == "/" + path && s.Attribute("lb.listener") == listener)) is not null),
            Propagation,
            $"the span of /{path} from listener {listener}",
            () => Describe(receiver) + "\n" + cluster.Diagnostics());
        return found!;
    }

    private static string Describe(OtlpReceiver receiver) =>
        "spans received:\n" + string.Join('\n', receiver.Spans.Select(s => $"  {s.Service} {s.Name} trace={s.TraceId} span={s.SpanId} parent={s.ParentSpanId} {string.Join(' ', s.Attributes.Select(a => a.Key + "=" + a.Value))}"));
}
