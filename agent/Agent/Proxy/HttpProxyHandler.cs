using System.Diagnostics;
using System.Net.Sockets;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The request path of HTTP(S) listeners: route by host and path to a pool, pick a backend
/// with the pool's balancer, forward with YARP's forwarder, and retry a connect failure on
/// another backend when nothing has been sent to the client yet.
/// </summary>
public sealed partial class HttpProxyHandler(IHttpForwarder forwarder, PoolRegistry pools, HealthMonitor health, ILogger<HttpProxyHandler> logger)
{
    private static readonly ForwarderRequestConfig DefaultRequestConfig = new() { ActivityTimeout = TimeSpan.FromSeconds(100) };

    public async Task HandleAsync(HttpContext context, RouteTable routes)
    {
        var request = context.Request;
        var poolName = routes.Match(request.Host.Value, request.Path.Value);
        if (poolName is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "no route matches this host and path").ConfigureAwait(false);
            return;
        }

        var pool = pools.Find(poolName);
        if (pool?.HttpClient is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "pool is not available").ConfigureAwait(false);
            return;
        }

        var requestConfig = pool.Config.RequestTimeout > TimeSpan.Zero
            ? new ForwarderRequestConfig { ActivityTimeout = pool.Config.RequestTimeout }
            : DefaultRequestConfig;
        var scheme = pool.Config.Protocol == "https" ? "https://" : "http://";
        var attempts = 1 + pool.Config.Retries;
        var canRetry = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true;
        var pickContext = HttpHashKeys.For(context, pool);
        BackendState? failed = null;

        for (var attempt = 0; attempt < attempts; attempt++)
        {
            var backend = PickAvoiding(pool, pickContext, failed);
            if (backend is null)
            {
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "no backend available").ConfigureAwait(false);
                return;
            }

            var started = Stopwatch.GetTimestamp();
            ForwarderError error;
            backend.Enter();
            try
            {
                error = await forwarder.SendAsync(context, scheme + backend.Address, pool.HttpClient, requestConfig, ForwardingTransformer.Instance).ConfigureAwait(false);
            }
            finally
            {
                backend.Leave();
            }

            if (error == ForwarderError.None)
            {
                backend.RecordLatency(Stopwatch.GetElapsedTime(started));
                var status = context.Response.StatusCode;
                health.ReportPassive(backend, status < 500, status >= 500 ? $"status {status}" : null);
                return;
            }

            var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
            if (error is not (ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled))
            {
                health.ReportPassive(backend, false, error.ToString());
            }
            var retry = attempt + 1 < attempts && canRetry && !context.Response.HasStarted && IsConnectFailure(error, exception);
            Log.ForwardFailed(logger, pool.Name, backend.Name, error, retry, exception?.GetBaseException().Message);
            if (!retry)
            {
                return;
            }

            // Nothing reached the client: forget the failed attempt and try another backend.
            context.Response.Clear();
            context.Features.Set<IForwarderErrorFeature>(null);
            failed = backend;
        }
    }

    private static BackendState? PickAvoiding(PoolRuntime pool, in PickContext pickContext, BackendState? failed)
    {
        var backend = pool.Balancer.Pick(pickContext);
        if (failed is null || backend != failed)
        {
            return backend;
        }
        // A hash key maps to the failed backend every time: retry with unkeyed picks.
        for (var i = 0; i < pool.Backends.Length; i++)
        {
            var next = pool.Balancer.Pick(PickContext.None);
            if (next is not null && next != failed)
            {
                return next;
            }
        }
        return backend;
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
            if (e is SocketException)
            {
                return true;
            }
        }
        return false;
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n").ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Forwarding to {Pool}/{Backend} failed with {Error} (retrying: {Retrying}): {Reason}")]
        public static partial void ForwardFailed(ILogger logger, string pool, string backend, ForwarderError error, bool retrying, string? reason);
    }
}
