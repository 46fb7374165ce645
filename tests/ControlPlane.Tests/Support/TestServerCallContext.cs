using Grpc.Core;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>A ServerCallContext for calling gRPC service methods directly, without a network.</summary>
internal sealed class TestServerCallContext : ServerCallContext
{
    private readonly CancellationToken _cancellationToken;
    private readonly Metadata _requestHeaders = [];

    /// <summary>A call made with an admin token (as the interceptor would attach it), or as <paramref name="caller"/>.</summary>
    public TestServerCallContext(CancellationToken cancellationToken = default, LoadBalancer.ControlPlane.Access.Caller? caller = null)
    {
        _cancellationToken = cancellationToken;
        (caller ?? new LoadBalancer.ControlPlane.Access.Caller("t-test", LoadBalancer.ControlPlane.Access.Roles.Admin, "", null, "127.0.0.1")).AttachTo(this);
    }
    private readonly Metadata _responseTrailers = [];

    protected override string MethodCore => "/lb.v1.Management/Test";
    protected override string HostCore => "localhost";
    protected override string PeerCore => "ipv4:127.0.0.1:1";
    protected override DateTime DeadlineCore => DateTime.MaxValue;
    protected override Metadata RequestHeadersCore => _requestHeaders;
    protected override CancellationToken CancellationTokenCore => _cancellationToken;
    protected override Metadata ResponseTrailersCore => _responseTrailers;
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore => new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException();

    /// <summary>Every response header the service wrote (lb-warning among them).</summary>
    public Metadata ResponseHeaders { get; } = [];

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        foreach (var entry in responseHeaders)
        {
            ResponseHeaders.Add(entry);
        }
        return Task.CompletedTask;
    }
}

internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
