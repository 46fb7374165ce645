using System.Threading.RateLimiting;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace LoadBalancer.ControlPlane.Access;

/// <summary>Limits of the API, set from the command line.</summary>
public sealed record AccessLimits(int RequestsPerSecond = 100, int Burst = 200)
{
    /// <summary>Failed authentications allowed per client address and second, so guessing costs time.</summary>
    public int FailuresPerSecond { get; init; } = 10;

    /// <summary>
    /// Sync stream opens that may wait for one token's budget. Opens are admitted at the token's
    /// rate in arrival order rather than refused, so a tier's whole fleet (agents share their
    /// tier's token) reconnecting after a restart gets in without one refusal; only opens beyond
    /// this queue are refused. Twice the agents a tier may have.
    /// </summary>
    public int QueuedStreamOpens { get; init; } = 2 * Sync.AgentRetention.DefaultMaxAgentsPerTier;
}

/// <summary>
/// Authenticates every call (bearer token), authorizes it against <see cref="AccessPolicy"/>,
/// applies the per-token rate limit, and leaves the <see cref="Caller"/> in the call's user
/// state. Refusals happen before the service runs, so they change nothing. Unary and
/// server-streaming calls over the limit are refused; long-lived duplex streams (agent sync)
/// wait in a bounded per-token admission queue instead.
/// </summary>
public sealed class AuthInterceptor : Interceptor, IDisposable
{
    private readonly TokenService _tokens;
    private readonly AccessLimits _limits;
    private readonly PartitionedRateLimiter<string>? _calls;
    private readonly PartitionedRateLimiter<string>? _failures;
    private readonly PartitionedRateLimiter<string>? _streamOpens;

    public AuthInterceptor(TokenService tokens, AccessLimits limits)
    {
        _tokens = tokens;
        _limits = limits;
        _calls = limits.RequestsPerSecond > 0
            ? PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(limits.RequestsPerSecond, Math.Max(limits.Burst, limits.RequestsPerSecond))))
            : null;
        // Separate from the call budget: a token's API calls neither wait for nor delay its streams.
        _streamOpens = limits.RequestsPerSecond > 0
            ? PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(limits.RequestsPerSecond, Math.Max(limits.Burst, limits.RequestsPerSecond), limits.QueuedStreamOpens)))
            : null;
        // --rate-limit 0 turns both limits off (tests that hammer the API on purpose).
        _failures = limits.RequestsPerSecond > 0
            ? PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(limits.FailuresPerSecond, limits.FailuresPerSecond * 2)))
            : null;
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Admit(context);
        return continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var caller = Authorize(context);
        if (_streamOpens is not null)
        {
            // Waits its turn (or until the client gives up); refused only when the queue is full.
            using var lease = await _streamOpens.AcquireAsync(caller.TokenId, 1, context.CancellationToken).ConfigureAwait(false);
            if (!lease.IsAcquired)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"rate limit: more than {_limits.QueuedStreamOpens} streams of this token wait to open at {_limits.RequestsPerSecond} per second"));
            }
        }
        caller.AttachTo(context);
        await continuation(requestStream, responseStream, context).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _calls?.Dispose();
        _failures?.Dispose();
        _streamOpens?.Dispose();
    }

    private void Admit(ServerCallContext context)
    {
        var caller = Authorize(context);
        if (_calls is not null)
        {
            using var lease = _calls.AttemptAcquire(caller.TokenId);
            if (!lease.IsAcquired)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"rate limit: at most {_limits.RequestsPerSecond} calls per second per token (bursts of {_limits.Burst})"));
            }
        }
        caller.AttachTo(context);
    }

    /// <summary>Authenticates the call and checks its method against the caller's role.</summary>
    private Caller Authorize(ServerCallContext context)
    {
        var peer = PeerAddress(context);
        Caller caller;
        try
        {
            caller = _tokens.Authenticate(BearerToken(context.RequestHeaders), peer);
        }
        catch (RpcException) when (_failures is not null)
        {
            using var lease = _failures.AttemptAcquire(peer);
            if (!lease.IsAcquired)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "too many failed authentications from this address; slow down"));
            }
            throw;
        }
        var permission = AccessPolicy.For(context.Method);
        if (permission is null || !AccessPolicy.Allows(caller.Role, permission.Value))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"token {caller.TokenId} has role {caller.Role}, which may not call {context.Method}"));
        }
        return caller;
    }

    private static string? BearerToken(Metadata headers)
    {
        var value = headers.GetValue("authorization");
        if (value is null)
        {
            return null;
        }
        const string scheme = "Bearer ";
        return value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? value[scheme.Length..].Trim() : "";
    }

    private static string PeerAddress(ServerCallContext context)
    {
        var remote = context.GetHttpContext()?.Connection.RemoteIpAddress;
        return remote?.ToString() ?? context.Peer ?? "unknown";
    }

    private static TokenBucketRateLimiterOptions Bucket(int perSecond, int burst, int queue = 0) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = queue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        AutoReplenishment = true,
    };
}
