using System.Diagnostics;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Metrics;
using LoadBalancer.Agent.Persistence;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Tracing;
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

    /// <param name="samplingRatio">The listener's spec.tracing.samplingRatio (see <see cref="TraceSampling"/>).</param>
    public async Task HandleAsync(HttpContext context, string listener, RouteTable routes, double samplingRatio = 0)
    {
        var request = context.Request;
        var route = routes.Match(request.Host.Value, request.Path.Value);
        if (route is null)
        {
            metrics.NoBackend.WithLabels(listener, "404").Inc();
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "no route matches this host and path").ConfigureAwait(false);
            return;
        }

        var pool = pools.Find(route.Pool);
        if (pool?.HttpClient is null)
        {
            metrics.NoBackend.WithLabels(listener, "503").Inc();
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "pool is not available").ConfigureAwait(false);
            return;
        }
        // Off (no --otel): this one check, no Activity, and traceparent passes through as sent.
        var span = AgentTracing.Enabled
            ? ProxySpan.Start(request.Headers.TraceParent, request.Headers.TraceState, samplingRatio, request.Method, request.Host.Value ?? string.Empty, request.Path.Value ?? "/", listener, route)
            : null;
        await pool.WhenWarmAsync(context.RequestAborted).ConfigureAwait(false);

        var requestConfig = pool.Config.RequestTimeout > TimeSpan.Zero
            ? new ForwarderRequestConfig { ActivityTimeout = pool.Config.RequestTimeout }
            : DefaultRequestConfig;
        var scheme = pool.Config.Protocol == "https" ? "https://" : "http://";
        var canHaveBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true;
        if (!canHaveBody && request.ContentLength is null && !RetryRule.IsIdempotent(request.Method) && !HttpMethods.IsConnect(request.Method))
        {
            // SocketsHttpHandler resends a request without content by itself when a reused
            // connection closes before any response byte, although the backend may have acted on
            // it (dotnet/runtime#86714). With "Content-Length: 0" (the same request) YARP sends an
            // empty content, which is never resent: a POST that reached a backend runs at most once.
            // Not for CONNECT (HTTP/2 WebSockets): its stream is a tunnel, not an empty body.
            request.ContentLength = 0;
        }
        // Bodies stream through unbuffered: a retry is possible only while the forwarder has not
        // started reading the body. Only requests that can have one pay for the wrapper.
        ReadTrackingStream? body = null;
        if (pool.Config.Retries > 0 && canHaveBody)
        {
            body = new ReadTrackingStream(request.Body);
            request.Body = body;
        }
        var sticky = SessionAffinity.Place(new ContextRequestKeys(context), pool, out var balancer, out var pickContext);
        var attempts = new BackendAttempts(pool, balancer, pickContext, sticky);
        var idempotent = RetryRule.IsIdempotent(request.Method);
        BackendState? tried = null;
        var clientGone = false;

        try
        {
            while (true)
            {
                var backend = attempts.Next(metrics, logger);
                tried = backend ?? tried;
                if (backend is null)
                {
                    metrics.NoBackend.WithLabels(listener, "503").Inc();
                    await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, attempts.NoBackendReason).ConfigureAwait(false);
                    return;
                }

                if (backend != sticky)
                {
                    // A new session, or the sticky backend could not take it: (re)stick the client.
                    SessionAffinity.Stick(context, pool, backend);
                }

                // The backend was entered by the pick; leave it whatever happens.
                var started = Stopwatch.GetTimestamp();
                ForwarderError error;
                try
                {
                    using var registration = activity.Register(backend, context.Abort);
                    error = await forwarder.SendAsync(context, scheme + backend.Address, pool.HttpClient, requestConfig, routes.Forwarding).ConfigureAwait(false);
                }
                finally
                {
                    backend.Leave();
                }

                var elapsed = Stopwatch.GetElapsedTime(started);
                var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
                var (outcome, timedOut) = Classify(error, exception);
                if (outcome == ForwardOutcome.Answered)
                {
                    backend.RecordLatency(elapsed);
                    var status = context.Response.StatusCode;
                    metrics.RecordRequest(listener, backend, status, elapsed);
                    LogAccess(context, listener, pool.Name, backend.Name, status, elapsed);
                    health.ReportPassive(backend, status < 500, status >= 500 ? $"status {status}" : null);
                    return;
                }
                if (outcome == ForwardOutcome.ClientGone)
                {
                    clientGone = true;
                    Log.ClientCanceled(logger, pool.Name, backend.Name, error);
                    return;
                }

                var retry = attempts.Failed(backend, health, error.ToString(),
                    RetryRule.Allows(outcome, timedOut, idempotent, context.Response.HasStarted, body?.ReadStarted == true));
                Log.ForwardFailed(logger, pool.Name, backend.Name, error, retry, exception?.GetBaseException().Message);
                if (!retry)
                {
                    if (!context.Response.HasStarted && outcome == ForwardOutcome.ConnectFailed && timedOut)
                    {
                        // YARP answers 502 for any failure to send; connectTimeout passing is a 504.
                        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                    }
                    metrics.RecordRequest(listener, backend, context.Response.StatusCode, elapsed);
                    LogAccess(context, listener, pool.Name, backend.Name, context.Response.StatusCode, elapsed);
                    return;
                }

                // Nothing reached the client: forget the failed attempt and try another backend.
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
            }
        }
        finally
        {
            if (body is not null)
            {
                request.Body = body.Inner;
            }
            if (span is not null)
            {
                ProxySpan.End(span, tried, attempts.Retries, clientGone ? 0 : context.Response.StatusCode);
            }
        }
    }

    /// <summary>YARP's error, in the words every path uses (<see cref="ForwardOutcome"/>), and whether it was a timeout.</summary>
    internal static (ForwardOutcome Outcome, bool TimedOut) Classify(ForwarderError error, Exception? exception)
    {
        switch (error)
        {
            case ForwarderError.None:
                return (ForwardOutcome.Answered, false);
            case ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled:
                return (ForwardOutcome.ClientGone, false);
        }
        if (FindConnectFailure(exception) is { } connect)
        {
            return (ForwardOutcome.ConnectFailed, connect.TimedOut);
        }
        return error switch
        {
            ForwarderError.Request => (ForwardOutcome.RequestFailed, false),
            ForwarderError.RequestTimedOut => (ForwardOutcome.RequestFailed, true),
            _ => (ForwardOutcome.TransferFailed, false),
        };
    }

    /// <summary>The retry rule (<see cref="RetryRule"/>) for one YARP outcome.</summary>
    internal static bool CanRetry(ForwarderError error, bool connectFailure, string method, bool responseStarted, bool bodyReadStarted)
    {
        var outcome = connectFailure ? ForwardOutcome.ConnectFailed : Classify(error, null).Outcome;
        return RetryRule.Allows(outcome, error == ForwarderError.RequestTimedOut, RetryRule.IsIdempotent(method), responseStarted, bodyReadStarted);
    }

    /// <summary>
    /// The pool's connect step failed (see <see cref="BackendConnectException"/>); a socket error
    /// on a connection that was already open is not one, even a timeout.
    /// </summary>
    internal static BackendConnectException? FindConnectFailure(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is BackendConnectException connect)
            {
                return connect;
            }
        }
        return null;
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

        [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Client canceled a request to {Pool}/{Backend} ({Error})")]
        public static partial void ClientCanceled(ILogger logger, string pool, string backend, ForwarderError error);

        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Forwarding to {Pool}/{Backend} failed with {Error} (retrying: {Retrying}): {Reason}")]
        public static partial void ForwardFailed(ILogger logger, string pool, string backend, ForwarderError error, bool retrying, string? reason);
    }
}
