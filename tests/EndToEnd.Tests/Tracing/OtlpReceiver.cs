using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Grpc.Core;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.Tracing.Otlp;
using Status = LoadBalancer.EndToEnd.Tests.Tracing.Otlp.Status;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.EndToEnd.Tests.Tracing;

/// <summary>One span as the receiver got it, ids in lowercase hex ("" for no parent).</summary>
public sealed record ReceivedSpan(
    string Service,
    string TraceId,
    string SpanId,
    string ParentSpanId,
    string Name,
    Span.Types.SpanKind Kind,
    Status.Types.StatusCode Status,
    IReadOnlyDictionary<string, string> Attributes,
    IReadOnlyDictionary<string, string> Resource)
{
    public string? Attribute(string key) => Attributes.TryGetValue(key, out var value) ? value : null;
}

/// <summary>
/// An OTLP/gRPC trace receiver in the test process, on loopback: what the daemons export with
/// --otel and OTEL_EXPORTER_OTLP_ENDPOINT pointing here arrives in <see cref="Spans"/>.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private WebApplication _app = null!;

    public int Port { get; private set; }

    /// <summary>For OTEL_EXPORTER_OTLP_ENDPOINT (protocol grpc).</summary>
    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    /// <summary>The environment that makes a daemon started with --otel export here, in batches of at most 100 ms.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
    };

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver { Port = Ports.Free() };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // OTLP/gRPC over cleartext: HTTP/2 with prior knowledge.
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, receiver.Port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(receiver);
        var app = builder.Build();
        app.MapGrpcService<TraceServiceEndpoint>();
        await app.StartAsync().ConfigureAwait(false);
        receiver._app = app;
        return receiver;
    }

    private void Add(ExportTraceServiceRequest request)
    {
        foreach (var resourceSpans in request.ResourceSpans)
        {
            var resource = Flatten(resourceSpans.Resource?.Attributes ?? []);
            var service = resource.TryGetValue("service.name", out var name) ? name : string.Empty;
            foreach (var span in resourceSpans.ScopeSpans.SelectMany(s => s.Spans))
            {
                _spans.Enqueue(new ReceivedSpan(
                    service,
                    Convert.ToHexStringLower(span.TraceId.Span),
                    Convert.ToHexStringLower(span.SpanId.Span),
                    Convert.ToHexStringLower(span.ParentSpanId.Span),
                    span.Name,
                    span.Kind,
                    span.Status?.Code ?? Status.Types.StatusCode.Unset,
                    Flatten(span.Attributes),
                    resource));
            }
        }
    }

    private static Dictionary<string, string> Flatten(IEnumerable<KeyValue> attributes) =>
        attributes.GroupBy(a => a.Key).ToDictionary(g => g.Key, g => Text(g.Last().Value));

    private static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(CultureInfo.InvariantCulture),
        _ => string.Empty,
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class TraceServiceEndpoint(OtlpReceiver receiver) : TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            receiver.Add(request);
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }
}
