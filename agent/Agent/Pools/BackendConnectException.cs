using System.Net;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// Thrown by the pools' connect step when no connection to the backend could be opened (refused,
/// unreachable, name not resolved, or connectTimeout passed): the request cannot have reached
/// the backend, whatever its method, so it may be retried elsewhere.
/// </summary>
public sealed class BackendConnectException(DnsEndPoint endPoint, bool timedOut, Exception innerException)
    : IOException($"connect to {endPoint.Host}:{endPoint.Port} failed: {innerException.Message}", innerException)
{
    public DnsEndPoint EndPoint { get; } = endPoint;

    /// <summary>connectTimeout passed (a 504 when no retry is left) rather than a refusal.</summary>
    public bool TimedOut { get; } = timedOut;

    /// <summary>connectTimeout passed while connecting to host:port.</summary>
    public static BackendConnectException TimeoutPassed(string host, int port, TimeSpan timeout) =>
        new(new DnsEndPoint(host, port), timedOut: true, new TimeoutException($"connect timed out after {timeout.TotalMilliseconds:0} ms"));
}
