using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Prometheus;

namespace LoadBalancer.ControlPlane.Observability;

/// <summary>
/// The control plane's Prometheus metrics. Labels are tiers, gRPC method names and status codes:
/// all bounded sets.
/// </summary>
public sealed class ControlPlaneMetrics
{
    // Commit times of recent revisions, to measure write-to-ACK push duration; bounded.
    private readonly ConcurrentDictionary<long, DateTime> _committedAt = new();
    private readonly TimeProvider _time;

    public ControlPlaneMetrics(TimeProvider time)
    {
        _time = time;
        AgentsConnected = Metrics.CreateGauge("lb_controlplane_agents_connected", "Agents with an open sync stream, by tier.", "tier");
        Revision = Metrics.CreateGauge("lb_controlplane_revision", "The store's current revision.");
        AgentInSync = Metrics.CreateGauge("lb_controlplane_agent_in_sync",
            "1 when the connected agent has acknowledged its tier's current snapshot, 0 while it has not; by tier and agent.", "tier", "agent");
        PushDuration = Metrics.CreateHistogram("lb_controlplane_push_duration_seconds", "Time from the committed write that produced a tier's snapshot revision to each agent's ACK of that revision.",
            new HistogramConfiguration { LabelNames = ["tier"], Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        Nacks = Metrics.CreateCounter("lb_controlplane_nacks_total", "Snapshots refused by agents, by tier.", "tier");
        ApiCalls = Metrics.CreateCounter("lb_controlplane_api_calls_total", "gRPC calls by method and status code.", "method", "code");
        HealthReports = Metrics.CreateCounter("lb_controlplane_health_reports_total", "Health reports received from agents, by tier.", "tier");
        ForeignHealthReports = Metrics.CreateCounter("lb_controlplane_health_reports_ignored_total",
            "Backend entries of agents' health reports that name no backend of the reporting agent's tier (ignored), by tier.", "tier");
        AgentMessagesThrottled = Metrics.CreateCounter("lb_controlplane_agent_messages_throttled_total",
            "Agent stream messages over their rate budget (health dropped; ack/nack deferred, the latest kept; others dropped), by tier and kind.", "tier", "kind");
        SyncMessagesSent = Metrics.CreateCounter("lb_controlplane_sync_messages_sent_total",
            "Configuration messages written to agent streams, by tier and kind (snapshot, delta, bookmark).", "tier", "kind");
        SyncBytesSent = Metrics.CreateCounter("lb_controlplane_sync_bytes_sent_total",
            "Protobuf bytes of the configuration messages written to agent streams, by tier and kind (snapshot, delta, bookmark).", "tier", "kind");
        AgentsRefused = Metrics.CreateCounter("lb_controlplane_agents_refused_total",
            "Sync streams refused because the agent name belongs to another tier, by the tier claimed.", "tier");
    }

    public Gauge AgentsConnected { get; }

    /// <summary>Per connected agent: 1 when it serves its tier's current snapshot, 0 while behind (set at each scrape).</summary>
    public Gauge AgentInSync { get; }

    public Gauge Revision { get; }

    public Histogram PushDuration { get; }

    public Counter Nacks { get; }

    public Counter ApiCalls { get; }

    public Counter HealthReports { get; }

    public Counter ForeignHealthReports { get; }

    public Counter AgentsRefused { get; }

    public Counter SyncMessagesSent { get; }

    public Counter SyncBytesSent { get; }

    public Counter AgentMessagesThrottled { get; }

    public void Committed(long revision)
    {
        Revision.Set(revision);
        _committedAt[revision] = _time.GetUtcNow().UtcDateTime;
        if (_committedAt.Count > 1024)
        {
            foreach (var old in _committedAt.Keys.Order().Take(_committedAt.Count - 512).ToList())
            {
                _committedAt.TryRemove(old, out _);
            }
        }
    }

    /// <summary>
    /// An agent ACKed a snapshot at <paramref name="revision"/> after holding <paramref name="previous"/>,
    /// on a stream opened at <paramref name="streamOpenedAt"/>. One sample: from the commit of the
    /// write that produced that revision to this ACK. Earlier writes the agent had not seen are not
    /// counted: one that did not change the tier (an unused certificate, another tier's pool) was
    /// never pushed to it, and timing from it measured quiet, not push. A revision committed before
    /// the stream opened is a catch-up at connect, not a push, and is not counted either.
    /// </summary>
    public void Acked(string tier, long previous, long revision, DateTime streamOpenedAt)
    {
        if (revision > previous && _committedAt.TryGetValue(revision, out var at) && at >= streamOpenedAt)
        {
            PushDuration.WithLabels(tier).Observe(Math.Max(0, (_time.GetUtcNow().UtcDateTime - at).TotalSeconds));
        }
    }
}

/// <summary>Counts every gRPC call by method and final status code.</summary>
public sealed class MetricsInterceptor(ControlPlaneMetrics metrics) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        CountedAsync(context, () => continuation(request, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        CountedAsync(context, async () =>
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            return true;
        });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        CountedAsync(context, async () =>
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
            return true;
        });

    /// <summary>Runs one call and counts it under its final status code: OK, or the RpcException's.</summary>
    private async Task<T> CountedAsync<T>(ServerCallContext context, Func<Task<T>> call)
    {
        try
        {
            var result = await call().ConfigureAwait(false);
            Count(context.Method, StatusCode.OK);
            return result;
        }
        catch (RpcException ex)
        {
            Count(context.Method, ex.StatusCode);
            throw;
        }
    }

    private void Count(string method, StatusCode code)
    {
        // The method name is the last path segment: a fixed set defined by the protos.
        var name = method[(method.LastIndexOf('/') + 1)..];
        metrics.ApiCalls.WithLabels(name, code.ToString()).Inc();
    }
}
