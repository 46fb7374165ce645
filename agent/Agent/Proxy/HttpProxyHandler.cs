using System.Diagnostics;
using System.Net.Sockets;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Metrics;
using LoadBalancer.Agent.Persistence;
using LoadBalancer.Agent.Pools;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The request path of HTTP(S) listeners: route by host and path to a pool, pick a backend
/// with the pool's balancer, forward with YARP's forwarder, and retry a connect failure on
/// another backend when nothing has been sent to the client yet.
/// </summary>
public sealed partial class HttpProxyHandler(IHttpForwarder forwarder, PoolRegistry pools, HealthMonitor health, BackendActivity activity, AgentMetrics metrics, ILogger<HttpProxyHandler> logger, ILoggerFactory loggers)
{
    private static readonly ForwarderRequestConfig DefaultRequestConfig = new() { ActivityTimeout = TimeSpan.FromSeconds(100) };

    private readonly ILogger _accessLog = loggers.CreateLogger("LoadBalancer.Agent.AccessLog");

    public async Task HandleAsync(HttpContext context, string listener, RouteTable routes)
    {
        var request = context.Request;
        var poolName = routes.Match(request.Host.Value, request.Path.Value);
        if (poolName is null)
        {
            metrics.NoBackend.WithLabels(listener, "404").Inc();
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "no route matches this host and path").ConfigureAwait(false);
            return;
        }

        var pool = pools.Find(poolName);
        if (pool?.HttpClient is null)
        {
            metrics.NoBackend.WithLabels(listener, "503").Inc();
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "pool is not available").ConfigureAwait(false);
            return;
        }

        var requestConfig = pool.Config.RequestTimeout > TimeSpan.Zero
            ? new ForwarderRequestConfig { ActivityTimeout = pool.Config.RequestTimeout }
            : DefaultRequestConfig;
        var scheme = pool.Config.Protocol == "https" ? "https://" : "http://";
        var attempts = 1 + pool.Config.Retries;
        var canRetry = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true;
        // Persistence first: a cookie names its backend; a header or source-ip session hashes
        // on the sticky table. Without a session the pool's algorithm places the request.
        var sticky = SessionAffinity.FindStickyBackend(context, pool);
        var balancer = pool.Balancer;
        var pickContext = HttpHashKeys.For(context, pool);
        if (pool.StickyBalancer is not null)
        {
            var stickyKey = SessionAffinity.StickyKey(context, pool);
            if (stickyKey.HasHashKey)
            {
                balancer = pool.StickyBalancer;
                pickContext = stickyKey;
            }
        }
        BackendState? failed = null;

        for (var attempt = 0; attempt < attempts; attempt++)
        {
            var backend = PickWithCapacity(pool, balancer, pickContext, failed, sticky);
            if (backend is null)
            {
                var reason = pool.Config.MaxConnectionsPerBackend > 0 ? "every backend is at maxConnectionsPerBackend" : "no backend available";
                metrics.NoBackend.WithLabels(listener, "503").Inc();
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, reason).ConfigureAwait(false);
                return;
            }

            if (backend != sticky)
            {
                // A new session, or the sticky backend could not take it: (re)stick the client.
                SessionAffinity.Stick(context, pool, backend);
            }

            // The backend was entered by PickWithCapacity; leave it whatever happens.
            var started = Stopwatch.GetTimestamp();
            ForwarderError error;
            try
            {
                using var registration = activity.Register(backend, context.Abort);
                error = await forwarder.SendAsync(context, scheme + backend.Address, pool.HttpClient, requestConfig, ForwardingTransformer.Instance).ConfigureAwait(false);
            }
            finally
            {
                backend.Leave();
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            if (error == ForwarderError.None)
            {
                backend.RecordLatency(elapsed);
                var status = context.Response.StatusCode;
                metrics.RecordRequest(listener, backend, status, elapsed);
                LogAccess(context, listener, pool.Name, backend.Name, status, elapsed);
                health.ReportPassive(backend, status < 500, status >= 500 ? $"status {status}" : null);
                return;
            }

            var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
            if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled)
            {
                // The client went away: nothing to retry, nothing against the backend.
                Log.ClientCanceled(logger, pool.Name, backend.Name, error);
                return;
            }
            health.ReportPassive(backend, false, error.ToString());
            // A connect failure never reached a backend; any other failure before a response byte is
            // retried only for idempotent methods. A body already streamed cannot be replayed.
            var retry = attempt + 1 < attempts && canRetry && !context.Response.HasStarted
                && (IsConnectFailure(error, exception) || (error == ForwarderError.Request && IsIdempotent(context.Request.Method)));
            Log.ForwardFailed(logger, pool.Name, backend.Name, error, retry, exception?.GetBaseException().Message);
            if (!retry)
            {
                if (!context.Response.HasStarted && IsTimeout(exception))
                {
                    // YARP answers 502 for a connect timeout; a timeout is a 504 to the client.
                    context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                }
                metrics.RecordRequest(listener, backend, context.Response.StatusCode, elapsed);
                LogAccess(context, listener, pool.Name, backend.Name, context.Response.StatusCode, elapsed);
                return;
            }

            // Nothing reached the client: forget the failed attempt and try another backend.
            context.Response.Clear();
            context.Features.Set<IForwarderErrorFeature>(null);
            failed = backend;
        }
    }

    private BackendState? PickWithCapacity(PoolRuntime pool, ILoadBalancer balancer, in PickContext pickContext, BackendState? failed, BackendState? sticky)
    {
        var backend = pool.PickAndEnter(balancer, pickContext, failed, sticky, out var failedOpen);
        if (failedOpen)
        {
            metrics.FailOpen.WithLabels(pool.Name).Inc();
            Log.FailedOpen(logger, pool.Name);
        }
        return backend;
    }

    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    private static bool IsTimeout(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is TimeoutException or TaskCanceledException)
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsConnectFailure(ForwarderError error, Exception? exception)
    {
        if (error is not (ForwarderError.Request or ForwarderError.RequestTimedOut))
        {
            return false;
        }
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError })
            {
                return true;
            }
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TimedOut })
            {
                return true;
            }
        }
        return false;
    }

    private void LogAccess(HttpContext context, string listener, string pool, string backend, int status, TimeSpan elapsed)
    {
        if (_accessLog.IsEnabled(LogLevel.Information))
        {
            var request = context.Request;
            Log.Access(_accessLog, context.Connection.RemoteIpAddress?.ToString() ?? "-", request.Method, request.Host.Value ?? "-", request.Path.Value ?? "/", request.Protocol, status, listener, pool, backend, elapsed.TotalMilliseconds);
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n").ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "{Client} \"{Method} {Host}{Path} {Protocol}\" {Status} listener={Listener} pool={Pool} backend={Backend} duration_ms={DurationMs:0.###}")]
        public static partial void Access(ILogger logger, string client, string method, string host, string path, string protocol, int status, string listener, string pool, string backend, double durationMs);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "No backend of pool {Pool} is healthy: failing open over every enabled backend")]
        public static partial void FailedOpen(ILogger logger, string pool);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Client canceled a request to {Pool}/{Backend} ({Error})")]
        public static partial void ClientCanceled(ILogger logger, string pool, string backend, ForwarderError error);

        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Forwarding to {Pool}/{Backend} failed with {Error} (retrying: {Retrying}): {Reason}")]
        public static partial void ForwardFailed(ILogger logger, string pool, string backend, ForwarderError error, bool retrying, string? reason);
    }
}
