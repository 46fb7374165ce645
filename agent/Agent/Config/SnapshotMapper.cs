using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Config;

/// <summary>A snapshot the agent refuses whole (it NACKs it and keeps serving the previous one).</summary>
public sealed class SnapshotRejectedException(string message) : Exception(message);

/// <summary>
/// Decodes, checks and maps a snapshot before any of it is applied: a snapshot that does not
/// decode or is internally inconsistent is refused whole.
/// </summary>
public static class SnapshotMapper
{
    public static TierConfig Decode(Snapshot snapshot, string expectedTier) => DecodeData(snapshot, expectedTier).Config;

    /// <summary>As <see cref="Decode"/>, with the decoded content (which later deltas apply to).</summary>
    public static (TierConfig Config, SnapshotData Data) DecodeData(Snapshot snapshot, string expectedTier)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var hash = Convert.ToHexStringLower(SHA256.HashData(snapshot.Payload.Span));
        if (!string.Equals(hash, snapshot.Hash, StringComparison.Ordinal))
        {
            throw new SnapshotRejectedException($"snapshot {snapshot.Revision}: payload hash {hash} does not match {snapshot.Hash}");
        }

        SnapshotData data;
        try
        {
            data = SnapshotData.Parser.ParseFrom(snapshot.Payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new SnapshotRejectedException($"snapshot {snapshot.Revision} cannot be decoded: {ex.Message}");
        }

        CheckTier(snapshot.Revision, data, expectedTier);
        return (Map(snapshot.Revision, snapshot.Hash, data), data);
    }

    public static void CheckTier(long revision, SnapshotData data, string expectedTier)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!string.Equals(data.Tier, expectedTier, StringComparison.Ordinal))
        {
            throw new SnapshotRejectedException($"snapshot {revision} is for tier '{data.Tier}', this agent serves '{expectedTier}'");
        }
    }

    public static TierConfig Map(long revision, string hash, SnapshotData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var pools = data.Pools.Select(MapPool).ToArray();
        var certificates = data.Certificates.Select(MapCertificate).ToArray();
        var listeners = data.Listeners.Select(MapListener).ToArray();
        var config = new TierConfig(revision, hash, data.Tier, listeners, pools, certificates);
        Check(config);
        return config;
    }

    /// <summary>
    /// Maps <paramref name="data"/> as <see cref="Map(long, string, SnapshotData)"/> does, reusing
    /// the mapped form of every message it shares with <paramref name="previousData"/> (which
    /// <paramref name="previous"/> was mapped from): after a delta only what changed is mapped
    /// again, and an unchanged pool is the same record, which the pools and listeners compare first.
    /// </summary>
    public static TierConfig Map(long revision, string hash, SnapshotData data, SnapshotData previousData, TierConfig previous)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(previousData);
        ArgumentNullException.ThrowIfNull(previous);
        var config = new TierConfig(
            revision,
            hash,
            data.Tier,
            Reuse(data.Listeners, previousData.Listeners, previous.Listeners, MapListener),
            Reuse(data.Pools, previousData.Pools, previous.Pools, MapPool),
            Reuse(data.Certificates, previousData.Certificates, previous.Certificates, MapCertificate));
        // The backends of a pool carried over were checked when it was first mapped.
        Check(config, new HashSet<PoolConfig>(previous.Pools, ReferenceEqualityComparer.Instance));
        return config;
    }

    private static TConfig[] Reuse<TMessage, TConfig>(IReadOnlyList<TMessage> messages, IReadOnlyList<TMessage> previousMessages, IReadOnlyList<TConfig> previousConfigs, Func<TMessage, TConfig> map)
        where TMessage : class
    {
        var mapped = new Dictionary<TMessage, TConfig>(ReferenceEqualityComparer.Instance);
        if (previousMessages.Count == previousConfigs.Count)
        {
            for (var i = 0; i < previousMessages.Count; i++)
            {
                mapped[previousMessages[i]] = previousConfigs[i];
            }
        }
        var result = new TConfig[messages.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = mapped.TryGetValue(messages[i], out var config) ? config : map(messages[i]);
        }
        return result;
    }

    private static CertificateConfig MapCertificate(SnapshotCertificate c) => new(c.Name, c.CertificatePem, c.PrivateKeyPem, c.FingerprintSha256);

    private static void Check(TierConfig config, IReadOnlySet<PoolConfig>? checkedPools = null)
    {
        var pools = new Dictionary<string, PoolConfig>(StringComparer.Ordinal);
        foreach (var pool in config.Pools)
        {
            if (!pools.TryAdd(pool.Name, pool))
            {
                throw new SnapshotRejectedException($"pool '{pool.Name}' appears twice");
            }
            if (checkedPools?.Contains(pool) == true)
            {
                continue;
            }
            var backendNames = new HashSet<string>(StringComparer.Ordinal);
            foreach (var backend in pool.Backends)
            {
                if (!backendNames.Add(backend.Name))
                {
                    throw new SnapshotRejectedException($"backend '{backend.Name}' appears twice in pool '{pool.Name}'");
                }
                if (backend.Port is < 1 or > 65535 || string.IsNullOrEmpty(backend.Host))
                {
                    throw new SnapshotRejectedException($"backend '{backend.Name}' of pool '{pool.Name}' has no valid address");
                }
            }
            if (pool.ProxyProtocol is not (0 or 1 or 2) || (pool.ProxyProtocol != 0 && pool.Protocol != "tcp"))
            {
                throw new SnapshotRejectedException($"pool '{pool.Name}' has PROXY protocol version {pool.ProxyProtocol} for protocol {pool.Protocol}");
            }
        }

        var certificates = new HashSet<string>(StringComparer.Ordinal);
        foreach (var certificate in config.Certificates)
        {
            if (!certificates.Add(certificate.Name))
            {
                throw new SnapshotRejectedException($"certificate '{certificate.Name}' appears twice");
            }
        }
        var ports = new Dictionary<int, string>();
        var listenerNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var listener in config.Listeners)
        {
            if (!listenerNames.Add(listener.Name))
            {
                throw new SnapshotRejectedException($"listener '{listener.Name}' appears twice");
            }
            if (listener.Port is < 1 or > 65535)
            {
                throw new SnapshotRejectedException($"listener '{listener.Name}' has port {listener.Port}");
            }
            if (!ports.TryAdd(listener.Port, listener.Name))
            {
                throw new SnapshotRejectedException($"listeners '{ports[listener.Port]}' and '{listener.Name}' share port {listener.Port}");
            }
            foreach (var (field, set) in new[] { ("proxyProtocol.trustedSources", listener.ProxyProtocolTrustedSources), ("allow", listener.Allow), ("deny", listener.Deny) })
            {
                if (set is not null && !set.Cidrs.All(c => System.Net.IPNetwork.TryParse(c, out _)))
                {
                    throw new SnapshotRejectedException($"listener '{listener.Name}' has an invalid CIDR in {field}");
                }
            }
            if (listener.IsHttps && listener.TlsPolicy is not (Tls.TlsPolicies.Modern or Tls.TlsPolicies.Intermediate))
            {
                throw new SnapshotRejectedException($"https listener '{listener.Name}' has TLS policy '{listener.TlsPolicy}'");
            }
            switch (listener.Protocol)
            {
                case "tcp":
                    RequirePool(listener.Name, listener.Pool);
                    break;
                case "http" or "https":
                    foreach (var route in listener.Routes)
                    {
                        CheckRoute(listener.Name, route);
                    }
                    break;
                default:
                    throw new SnapshotRejectedException($"listener '{listener.Name}' has unknown protocol '{listener.Protocol}'");
            }
            if (!(listener.TracingSamplingRatio is >= 0 and <= 1))
            {
                throw new SnapshotRejectedException($"listener '{listener.Name}' has tracing.samplingRatio {listener.TracingSamplingRatio.ToString(System.Globalization.CultureInfo.InvariantCulture)}, not from 0 to 1");
            }
            if (listener.IsHttps && listener.Certificates.Count == 0)
            {
                throw new SnapshotRejectedException($"https listener '{listener.Name}' has no certificate");
            }
            foreach (var certificate in listener.Certificates)
            {
                if (!certificates.Contains(certificate))
                {
                    throw new SnapshotRejectedException($"listener '{listener.Name}' names missing certificate '{certificate}'");
                }
            }
        }

        void CheckRoute(string listener, RouteConfig route)
        {
            foreach (var pattern in RoutePatterns(route))
            {
                // The control plane compiled these already; one it could not reach here would fail the whole table.
                if (!Routing.RoutePatterns.TryCompile(pattern, out _, out var error))
                {
                    throw new SnapshotRejectedException($"listener '{listener}' has an invalid regular expression: {error}");
                }
            }
            if (route.Pool.Length > 0)
            {
                RequirePool(listener, route.Pool);
                return;
            }
            foreach (var backend in route.Backends)
            {
                RequirePool(listener, backend.Pool);
            }
            if (route.Backends.Count == 0 && route.Redirect is null)
            {
                throw new SnapshotRejectedException($"listener '{listener}' has a route with neither a pool nor a redirect");
            }
            if (route.Backends.Count > 0 && route.Backends.All(b => b.Weight <= 0))
            {
                throw new SnapshotRejectedException($"listener '{listener}' has a route whose backend weights sum to 0");
            }
        }

        void RequirePool(string listener, string pool)
        {
            if (!pools.ContainsKey(pool))
            {
                throw new SnapshotRejectedException($"listener '{listener}' routes to missing pool '{pool}'");
            }
        }
    }

    private static ListenerConfig MapListener(SnapshotListener listener) => new(
        listener.Name,
        listener.Port,
        listener.Protocol,
        listener.Certificates.ToEquatableArray(),
        listener.Routes.Select(MapRoute).ToEquatableArray(),
        listener.Pool,
        listener.TrustedProxies.ToEquatableArray(),
        CidrSet.Of(listener.ProxyProtocolTrustedSources),
        CidrSet.Of(listener.Allow),
        CidrSet.Of(listener.Deny),
        // A snapshot of a control plane older than TLS policies (or cached from one) has none.
        listener.TlsPolicy.Length == 0 ? Tls.TlsPolicies.Intermediate : listener.TlsPolicy,
        listener.Tracing?.SamplingRatio ?? 0);

    private static RouteConfig MapRoute(SnapshotRoute route)
    {
        RedirectConfig? redirect = null;
        RewriteConfig? rewrite = null;
        HeaderModifierConfig? requestHeaders = null;
        HeaderModifierConfig? responseHeaders = null;
        foreach (var filter in route.Filters)
        {
            switch (filter.Type)
            {
                case "RequestRedirect" when filter.RequestRedirect is { } r:
                    redirect = new RedirectConfig(r.Scheme, r.Hostname, r.HasPort ? r.Port : 0, MapPathModifier(r.Path), r.HasStatusCode ? r.StatusCode : 301);
                    break;
                case "URLRewrite" when filter.UrlRewrite is { } u:
                    rewrite = new RewriteConfig(u.Hostname, MapPathModifier(u.Path));
                    break;
                case "RequestHeaderModifier" when filter.RequestHeaderModifier is { } m:
                    requestHeaders = MapHeaderModifier(m);
                    break;
                case "ResponseHeaderModifier" when filter.ResponseHeaderModifier is { } m:
                    responseHeaders = MapHeaderModifier(m);
                    break;
                default:
                    throw new SnapshotRejectedException($"route filter '{filter.Type}' is not supported by this agent");
            }
        }
        return new RouteConfig(
            route.Hosts.Select(h => h.ToLowerInvariant()).ToEquatableArray(),
            string.IsNullOrEmpty(route.PathPrefix) ? "/" : route.PathPrefix,
            route.Pool)
        {
            Matches = route.Matches
                .Select(m => new RouteMatchConfig(
                    string.IsNullOrEmpty(m.Path?.Type) ? "PathPrefix" : m.Path.Type,
                    string.IsNullOrEmpty(m.Path?.Value) ? "/" : m.Path.Value,
                    m.Method,
                    m.Headers.Select(MapValueMatch).ToEquatableArray(),
                    m.QueryParams.Select(MapValueMatch).ToEquatableArray()))
                .ToEquatableArray(),
            Backends = route.Backends.Select(b => new WeightedPoolConfig(b.Pool, b.HasWeight ? b.Weight : 1)).ToEquatableArray(),
            Redirect = redirect,
            Rewrite = rewrite,
            RequestHeaders = requestHeaders,
            ResponseHeaders = responseHeaders,
            BackendRequestTimeout = TimeSpan.FromMilliseconds(Math.Max(0, route.BackendRequestTimeoutMs)),
            Retries = route.HasRetries ? Math.Max(0, route.Retries) : null,
        };
    }

    private static ValueMatchConfig MapValueMatch(ValueMatch match) =>
        new(string.IsNullOrEmpty(match.Type) ? "Exact" : match.Type, match.Name, match.Value);

    private static PathModifierConfig? MapPathModifier(PathModifier? path) => path switch
    {
        null or { Type.Length: 0 } => null,
        { Type: "ReplacePrefixMatch" } => new PathModifierConfig(path.Type, path.ReplacePrefixMatch),
        _ => new PathModifierConfig(path.Type, path.ReplaceFullPath),
    };

    private static HeaderModifierConfig MapHeaderModifier(HeaderModifierFilter modifier) => new(
        modifier.Set.Select(h => new HeaderValueConfig(h.Name, h.Value)).ToEquatableArray(),
        modifier.Add.Select(h => new HeaderValueConfig(h.Name, h.Value)).ToEquatableArray(),
        modifier.Remove.ToEquatableArray());

    /// <summary>Every regular expression of a route (paths, headers, query parameters).</summary>
    private static IEnumerable<string> RoutePatterns(RouteConfig route) =>
        route.Matches.SelectMany(m =>
            (m.PathType == "RegularExpression" ? [m.PathValue] : Array.Empty<string>())
                .Concat(m.Headers.Concat(m.QueryParams).Where(h => h.Type == "RegularExpression").Select(h => h.Value)));

    private static PoolConfig MapPool(SnapshotPool pool)
    {
        HealthCheckConfig? healthCheck = null;
        if (pool.HealthCheck is { Type.Length: > 0 } hc)
        {
            healthCheck = new HealthCheckConfig(
                hc.Type,
                string.IsNullOrEmpty(hc.Path) ? "/" : hc.Path,
                Positive(hc.IntervalMs, 5000),
                Positive(hc.TimeoutMs, 2000),
                Math.Max(1, hc.HealthyThreshold),
                Math.Max(1, hc.UnhealthyThreshold),
                hc.ExpectedStatus.Count == 0
                    ? new EquatableArray<StatusRangeConfig>([new StatusRangeConfig(200, 399)])
                    : hc.ExpectedStatus.Select(r => new StatusRangeConfig(r.From, r.To)).ToEquatableArray(),
                hc.Port);
        }

        PassiveHealthConfig? passive = pool.PassiveHealth is { ConsecutiveFailures: > 0 } ph
            ? new PassiveHealthConfig(ph.ConsecutiveFailures, Positive(ph.EjectionTimeMs, 30000), ph.KeepEjectionOnActivePass)
            : null;

        SessionPersistenceConfig? persistence = pool.SessionPersistence is { Type.Length: > 0 } sp && sp.Type != "none"
            ? new SessionPersistenceConfig(sp.Type, sp.CookieName, sp.HeaderName, TimeSpan.FromMilliseconds(sp.TtlMs), sp.HmacKey.ToByteArray().ToEquatableArray())
            : null;

        BackendTlsConfig? tls = pool.BackendTls is { } bt && (bt.CaPem.Length > 0 || bt.InsecureSkipVerify || bt.ServerName.Length > 0)
            ? new BackendTlsConfig(bt.CaPem, bt.InsecureSkipVerify, bt.ServerName)
            : null;

        return new PoolConfig(
            pool.Name,
            string.IsNullOrEmpty(pool.Protocol) ? "http" : pool.Protocol,
            string.IsNullOrEmpty(pool.Algorithm) ? "round-robin" : pool.Algorithm,
            pool.HashOn,
            healthCheck,
            passive,
            persistence,
            Positive(pool.DrainTimeoutMs, 30000),
            Math.Max(0, pool.Retries),
            Positive(pool.ConnectTimeoutMs, 5000),
            TimeSpan.FromMilliseconds(Math.Max(0, pool.RequestTimeoutMs)),
            TimeSpan.FromMilliseconds(Math.Max(0, pool.IdleTimeoutMs)),
            Math.Max(0, pool.MaxConnectionsPerBackend),
            tls,
            pool.Backends
                .Select(b => new BackendConfig(b.Name, b.Host, b.Port, b.Weight <= 0 ? 1 : b.Weight, string.IsNullOrEmpty(b.State) ? "enabled" : b.State))
                .ToEquatableArray(),
            pool.ProxyProtocol);
    }

    private static TimeSpan Positive(long milliseconds, long fallback) =>
        TimeSpan.FromMilliseconds(milliseconds > 0 ? milliseconds : fallback);
}
