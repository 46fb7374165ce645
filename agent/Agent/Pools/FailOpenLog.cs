using LoadBalancer.Agent.Metrics;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// What the HTTP and TCP paths do with a pick's fail-open answer: count every pick made while
/// failing open, and log only when a pool enters or leaves fail-open (a log line per request
/// would flood the log exactly when the operator needs to read it).
/// </summary>
internal static partial class FailOpenLog
{
    public static void Note(PoolRuntime pool, bool failedOpen, AgentMetrics metrics, ILogger logger)
    {
        if (failedOpen)
        {
            metrics.FailOpen.WithLabels(pool.Name).Inc();
        }
        if (!pool.NoteFailOpen(failedOpen))
        {
            return;
        }
        if (failedOpen)
        {
            Entered(logger, pool.Name);
        }
        else
        {
            Left(logger, pool.Name);
        }
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "No backend of pool {Pool} is healthy: failing open over every enabled backend")]
    private static partial void Entered(ILogger logger, string pool);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Pool {Pool} has a healthy backend again: no longer failing open")]
    private static partial void Left(ILogger logger, string pool);
}
