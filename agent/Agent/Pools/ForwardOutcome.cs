namespace LoadBalancer.Agent.Pools;

/// <summary>
/// How one attempt to forward to a backend ended, in the same words for every path (YARP, the
/// HTTP fast path, TCP), so that retries and passive health follow one rule.
/// </summary>
public enum ForwardOutcome
{
    /// <summary>The backend answered (any status) or, for TCP, the relay ran.</summary>
    Answered,

    /// <summary>The client went away: nothing to retry, nothing against the backend.</summary>
    ClientGone,

    /// <summary>No connection to the backend (refused, unreachable, connectTimeout): it never saw the request.</summary>
    ConnectFailed,

    /// <summary>The request reached the backend, which failed before any response byte.</summary>
    RequestFailed,

    /// <summary>A failure while a body or the answer was moving: it cannot be replayed.</summary>
    TransferFailed,

    /// <summary>A kept-alive connection failed before any answer: the backend closed it while idle.</summary>
    Stale,

    /// <summary>The backend's drainTimeout passed with the exchange in flight: both sides were closed.</summary>
    Drained,
}

/// <summary>The retry rule of every path.</summary>
internal static class RetryRule
{
    /// <summary>
    /// A request that failed to connect never reached a backend, whatever its method; an
    /// idempotent one that failed before any response byte may run again, unless it timed out
    /// waiting for its answer (another try would double the wait); nothing is retried once the
    /// response started or the body started streaming (it cannot be replayed).
    /// </summary>
    public static bool Allows(ForwardOutcome outcome, bool timedOut, bool idempotent, bool responseStarted, bool bodyReadStarted)
    {
        if (responseStarted || bodyReadStarted)
        {
            return false;
        }
        return outcome switch
        {
            ForwardOutcome.ConnectFailed => true,
            ForwardOutcome.RequestFailed => idempotent && !timedOut,
            _ => false,
        };
    }

    /// <summary>RFC 9110's idempotent methods that the agent may send twice (TRACE is never forwarded twice).</summary>
    public static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);
}
