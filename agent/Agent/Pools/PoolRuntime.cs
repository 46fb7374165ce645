using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Pools;

/// <summary>
/// The live state of one pool: its config, its backends' runtime state, the balancer and the
/// HTTP client used to reach the backends. Replaced as a whole when the pool's config changes;
/// the backend states and balancer state are carried over.
/// </summary>
public sealed class PoolRuntime
{
    private readonly StrongBox<int> _failOpen;

    internal PoolRuntime(PoolConfig config, BackendState[] backends, ILoadBalancer balancer, ILoadBalancer? stickyBalancer, HttpMessageInvoker? httpClient, PoolRuntime? previous = null)
    {
        _failOpen = previous?._failOpen ?? new StrongBox<int>();
        // A reconfigured pool keeps its warming (done, or still going); only a new one starts it.
        Warming = previous?.Warming
            ?? (config.HealthCheck is null || backends.Length == 0 ? PoolWarming.Warm : new PoolWarming());
        Config = config;
        Backends = backends;
        Balancer = balancer;
        StickyBalancer = stickyBalancer;
        HttpClient = httpClient;
    }

    public PoolConfig Config { get; }

    /// <summary>Until warm, requests and connections to this pool wait (see <see cref="PoolWarming"/>).</summary>
    public PoolWarming Warming { get; }

    /// <summary>Completes at once once the pool is warm (the only cost on the request path: one read).</summary>
    public ValueTask WhenWarmAsync(CancellationToken cancellationToken) =>
        Warming.IsWarm ? ValueTask.CompletedTask : WaitWarmAsync(cancellationToken);

    private async ValueTask WaitWarmAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Warming.WhenWarm.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client left while the pool warmed: the caller finds out at its first write.
        }
    }

    public string Name => Config.Name;

    public BackendState[] Backends { get; }

    public ILoadBalancer Balancer { get; }

    /// <summary>
    /// For header and source-ip persistence: a consistent-hash table over the same backends,
    /// so a session key lands on the same backend on every agent whatever the algorithm.
    /// </summary>
    public ILoadBalancer? StickyBalancer { get; }

    /// <summary>Null for tcp pools.</summary>
    public HttpMessageInvoker? HttpClient { get; }

    /// <summary>
    /// Picks a backend with room under maxConnectionsPerBackend and enters it (the caller
    /// leaves it). A <paramref name="preferred"/> backend (a sticky session's) is tried first;
    /// a full backend is passed over; null when every one is full or none is enabled, so the
    /// caller refuses at once rather than queueing. When the preferred backend is taken no
    /// balancer is asked, so <paramref name="failedOpen"/> then repeats the pool's last answer.
    /// </summary>
    public BackendState? PickAndEnter(ILoadBalancer balancer, in PickContext context, in FailedBackends failed, BackendState? preferred, out bool failedOpen)
    {
        var max = Config.MaxConnectionsPerBackend;
        if (preferred is not null && !failed.Contains(preferred) && TryEnter(preferred, max))
        {
            failedOpen = IsFailingOpen;
            return preferred;
        }
        failedOpen = false;
        var tries = max > 0 ? Math.Max(1, Backends.Length * 2) : 1;
        for (var i = 0; i < tries; i++)
        {
            var backend = i == 0
                ? PickAvoiding(balancer, context, failed, out failedOpen)
                : PickAvoiding(Balancer, PickContext.None, failed, out _);
            if (backend is null)
            {
                return null;
            }
            if (TryEnter(backend, max))
            {
                return backend;
            }
        }
        return null;
    }

    private static bool TryEnter(BackendState backend, int max)
    {
        backend.Enter();
        if (max <= 0 || backend.InFlight <= max)
        {
            return true;
        }
        backend.Leave();
        return false;
    }

    /// <summary>
    /// Picks with <paramref name="balancer"/> (the pool's own, or its sticky table), avoiding
    /// every backend that already failed this request or connection: a hash key maps to the same
    /// backend every time, so the retry falls back to unkeyed picks of the pool's algorithm.
    /// When every available backend has failed, one of them is tried again rather than none.
    /// </summary>
    public BackendState? PickAvoiding(ILoadBalancer balancer, in PickContext context, in FailedBackends failed, out bool failedOpen)
    {
        var backend = balancer.Pick(context, out failedOpen);
        if (failed.IsEmpty || !failed.Contains(backend))
        {
            return backend;
        }
        for (var i = 0; i < Backends.Length; i++)
        {
            var next = Balancer.Pick(PickContext.None);
            if (next is not null && !failed.Contains(next))
            {
                return next;
            }
        }
        // A deterministic algorithm (least-connections: the dead backend has the fewest) keeps
        // choosing a failed one: take any other available backend, from a random start.
        var start = Random.Shared.Next(Backends.Length);
        for (var i = 0; i < Backends.Length; i++)
        {
            var candidate = Backends[(start + i) % Backends.Length];
            if (!failed.Contains(candidate) && candidate.IsAvailable)
            {
                return candidate;
            }
        }
        return backend;
    }

    /// <summary>
    /// For header and source-ip persistence: the backend that owns <paramref name="key"/> in the
    /// sticky table, when it may still take that session (available, or draining before its
    /// deadline); null otherwise, and the sticky table's pick moves the key on.
    /// </summary>
    /// <remarks>
    /// A hashed session keeps no state, so an existing session cannot be told from a new one
    /// that hashes to the same backend: while a backend drains, every key it owns stays with it
    /// until drainTimeout, new ones included. Keeping old sessions matters more than placing a
    /// few new ones elsewhere for at most drainTimeout; cookie persistence does tell them apart.
    /// </remarks>
    public BackendState? StickyOwner(in PickContext key)
    {
        if (!key.HasHashKey || StickyBalancer is not MaglevLoadBalancer sticky)
        {
            return null;
        }
        var owner = sticky.Table.Owner(key.HashKey);
        return owner is not null && owner.AcceptsStickySession ? owner : null;
    }

    /// <summary>True while the last pick found no healthy backend and spread over every enabled one.</summary>
    public bool IsFailingOpen => Volatile.Read(ref _failOpen.Value) != 0;

    /// <summary>
    /// Records whether the latest pick failed open; true only for the pick that changed it, so
    /// the change is logged once per transition rather than per request. The flag is carried
    /// over to the pool's next runtime so a config change does not log it again.
    /// </summary>
    public bool NoteFailOpen(bool failedOpen)
    {
        var value = failedOpen ? 1 : 0;
        // A read first: the common case changes nothing and must not write a shared line.
        return Volatile.Read(ref _failOpen.Value) != value && Interlocked.Exchange(ref _failOpen.Value, value) != value;
    }

    /// <summary>
    /// The client handler settings that matter; a pool whose settings did not change keeps its
    /// connection pool.
    /// </summary>
    internal static (TimeSpan ConnectTimeout, BackendTlsConfig? Tls, string Protocol) TransportKey(PoolConfig config) =>
        (config.ConnectTimeout, config.BackendTls, config.Protocol);

    internal static HttpMessageInvoker CreateHttpClient(PoolConfig config)
    {
        // https: the TLS handshake is ours too (a ready SslStream from ConnectCallback is used as
        // is), so the name checked against the backend's certificate comes from configuration.
        // SocketsHttpHandler would otherwise take it from the request's Host header, which is the
        // client's: any client could then fail the name check at will and get backends ejected.
        var tls = config.Protocol == "https" ? BackendTlsOptions(config.BackendTls) : null;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            // Connecting is ours (ConnectCallback): its failures and its timeout come back as a
            // BackendConnectException, so a retry knows for sure nothing reached the backend.
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context, config.ConnectTimeout, tls, config.BackendTls?.ServerName, cancellationToken),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ActivityHeadersPropagator = null,
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, TimeSpan timeout, SslClientAuthenticationOptions? tls, string? serverName, CancellationToken cancellationToken)
    {
        var network = new NetworkStream(await BackendConnector.ConnectAsync(context.DnsEndPoint, timeout, cancellationToken).ConfigureAwait(false), ownsSocket: true);
        if (tls is null)
        {
            return network;
        }
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(ForConnection(tls, serverName is { Length: > 0 } ? serverName : context.DnsEndPoint.Host, context.InitialRequestMessage.Version), cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The pool's TLS settings for one connection: the configured name, and ALPN for the request's HTTP version.</summary>
    internal static SslClientAuthenticationOptions ForConnection(SslClientAuthenticationOptions pool, string targetHost, Version requestVersion) => new()
    {
        TargetHost = targetHost,
        RemoteCertificateValidationCallback = pool.RemoteCertificateValidationCallback,
        CertificateChainPolicy = pool.CertificateChainPolicy,
        CertificateRevocationCheckMode = pool.CertificateRevocationCheckMode,
        // The handler picks HTTP/2 or HTTP/1.1 from what ALPN negotiated on a stream it did not open.
        ApplicationProtocols = requestVersion.Major >= 2 ? [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11] : [SslApplicationProtocol.Http11],
    };

    private static SslClientAuthenticationOptions BackendTlsOptions(BackendTlsConfig? tls)
    {
        var options = new SslClientAuthenticationOptions();
        if (tls is { InsecureSkipVerify: true })
        {
            // Asked for explicitly in the pool spec (and shown in its status).
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        else if (tls is { CaPem.Length: > 0 })
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(tls.CaPem);
            options.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }
        return options;
    }
}
