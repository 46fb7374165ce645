using System.Net.Security;
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
    internal PoolRuntime(PoolConfig config, BackendState[] backends, ILoadBalancer balancer, ILoadBalancer? stickyBalancer, HttpMessageInvoker? httpClient)
    {
        Config = config;
        Backends = backends;
        Balancer = balancer;
        StickyBalancer = stickyBalancer;
        HttpClient = httpClient;
    }

    public PoolConfig Config { get; }

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
    /// caller refuses at once rather than queueing.
    /// </summary>
    public BackendState? PickAndEnter(ILoadBalancer balancer, in PickContext context, BackendState? failed, BackendState? preferred, out bool failedOpen)
    {
        failedOpen = false;
        var max = Config.MaxConnectionsPerBackend;
        if (preferred is not null && preferred != failed && TryEnter(preferred, max))
        {
            return preferred;
        }
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
    /// a backend that just failed this request or connection: a hash key maps to the same
    /// backend every time, so the retry falls back to unkeyed picks of the pool's algorithm.
    /// </summary>
    public BackendState? PickAvoiding(ILoadBalancer balancer, in PickContext context, BackendState? failed, out bool failedOpen)
    {
        var backend = balancer.Pick(context, out failedOpen);
        if (failed is null || backend != failed)
        {
            return backend;
        }
        for (var i = 0; i < Backends.Length; i++)
        {
            var next = Balancer.Pick(PickContext.None);
            if (next is not null && next != failed)
            {
                return next;
            }
        }
        // A deterministic algorithm (least-connections: the dead backend has the fewest) keeps
        // choosing the failed one: take any other available backend, from a random start.
        var start = Random.Shared.Next(Backends.Length);
        for (var i = 0; i < Backends.Length; i++)
        {
            var candidate = Backends[(start + i) % Backends.Length];
            if (candidate != failed && candidate.IsAvailable)
            {
                return candidate;
            }
        }
        return backend;
    }

    /// <summary>
    /// The client handler settings that matter; a pool whose settings did not change keeps its
    /// connection pool.
    /// </summary>
    internal static (TimeSpan ConnectTimeout, BackendTlsConfig? Tls, string Protocol) TransportKey(PoolConfig config) =>
        (config.ConnectTimeout, config.BackendTls, config.Protocol);

    internal static HttpMessageInvoker CreateHttpClient(PoolConfig config)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = config.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ActivityHeadersPropagator = null,
        };
        if (config.Protocol == "https")
        {
            handler.SslOptions = BackendTlsOptions(config.BackendTls);
        }
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

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
