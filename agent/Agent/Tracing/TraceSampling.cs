using System.Diagnostics;

namespace LoadBalancer.Agent.Tracing;

/// <summary>
/// Whether the agent records a span for one request. A valid incoming W3C traceparent decides
/// (its sampled flag, parent-based as every hop of a trace must agree); without one, the
/// listener's samplingRatio does (0, the default, starts no trace of its own).
/// </summary>
internal static class TraceSampling
{
    /// <param name="traceparent">The request's traceparent header, if any.</param>
    /// <param name="tracestate">The request's tracestate header, if any; kept with the parent.</param>
    /// <param name="samplingRatio">The listener's spec.tracing.samplingRatio, 0 to 1.</param>
    /// <param name="draw">A uniform random number in [0, 1), for the ratio.</param>
    /// <param name="parent">The remote parent to continue, or default for a new trace.</param>
    public static bool ShouldRecord(string? traceparent, string? tracestate, double samplingRatio, double draw, out ActivityContext parent)
    {
        if (traceparent is not null && ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out parent))
        {
            return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0;
        }
        parent = default;
        return samplingRatio > 0 && draw < samplingRatio;
    }
}
