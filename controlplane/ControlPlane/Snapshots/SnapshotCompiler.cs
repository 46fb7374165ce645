using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Snapshots;

/// <summary>One tier's compiled configuration, serialized once. Hash is the lowercase hex SHA-256 of Payload.</summary>
public sealed record CompiledTier(string Tier, SnapshotData Data, ByteString Payload, string Hash);

/// <summary>Every tier compiled from one consistent read of the store at <paramref name="Revision"/>.</summary>
public sealed record CompiledStore(long Revision, IReadOnlyDictionary<string, CompiledTier> Tiers);

/// <summary>
/// Turns the store into one <see cref="SnapshotData"/> per tier: defaults applied, everything
/// sorted so the same store always gives the same bytes, only the tier's own pools and
/// certificates (with decrypted keys), checked for consistency before it is returned.
/// </summary>
public sealed class SnapshotCompiler(SecretProtector secrets)
{
    public const string DefaultAlgorithm = "round-robin";

    /// <summary>Mozilla's intermediate profile: what scanners expect of a server for general clients.</summary>
    public const string DefaultTlsPolicy = "intermediate";

    public const long DefaultDrainTimeoutMs = 30_000;
    public const int DefaultRetries = 1;
    public const long DefaultConnectTimeoutMs = 5_000;
    public const long DefaultHealthIntervalMs = 5_000;
    public const long DefaultHealthTimeoutMs = 2_000;
    public const int DefaultThreshold = 2;
    public const string DefaultExpectedStatus = "200-399";
    public const long DefaultEjectionTimeMs = 30_000;

    /// <summary>
    /// Reads the store through one view (one consistent read at one revision) and compiles every
    /// tier from it, so the revision and the payloads always belong together.
    /// </summary>
    public async Task<CompiledStore> CompileCurrentAsync(IStoreReader reader, IEnumerable<string> extraTiers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        await using var view = await reader.OpenViewAsync(cancellationToken).ConfigureAwait(false);
        var tiers = await CompileAllAsync(view, extraTiers, cancellationToken).ConfigureAwait(false);
        return new CompiledStore(view.Revision, tiers);
    }

    /// <summary>Compiles every tier that has a listener plus <paramref name="extraTiers"/> (which may be empty).</summary>
    public async Task<IReadOnlyDictionary<string, CompiledTier>> CompileAllAsync(IStoreView view, IEnumerable<string> extraTiers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(extraTiers);
        var listeners = await view.ListAsync<ListenerEntity>(cancellationToken).ConfigureAwait(false);
        var pools = await view.ListAsync<PoolEntity>(cancellationToken).ConfigureAwait(false);
        var backends = await view.ListAsync<BackendEntity>(cancellationToken).ConfigureAwait(false);
        var certificates = await view.ListAsync<CertificateEntity>(cancellationToken).ConfigureAwait(false);
        return Compile(listeners, pools, backends, certificates, extraTiers);
    }

    internal IReadOnlyDictionary<string, CompiledTier> Compile(
        IEnumerable<ListenerEntity> listeners,
        IEnumerable<PoolEntity> pools,
        IEnumerable<BackendEntity> backends,
        IEnumerable<CertificateEntity> certificates,
        IEnumerable<string> extraTiers)
    {
        var listenersByTier = listeners
            .GroupBy(l => l.Tier, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(l => l.Name, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var poolsByName = pools.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var backendsByPool = backends
            .GroupBy(b => b.Pool, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(b => b.Name, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var certificatesByName = certificates.ToDictionary(c => c.Name, StringComparer.Ordinal);

        var tiers = new SortedSet<string>(listenersByTier.Keys, StringComparer.Ordinal);
        foreach (var tier in extraTiers)
        {
            if (!string.IsNullOrEmpty(tier))
            {
                tiers.Add(tier);
            }
        }
        var result = new Dictionary<string, CompiledTier>(StringComparer.Ordinal);
        foreach (var tier in tiers)
        {
            var data = CompileTier(tier, listenersByTier.GetValueOrDefault(tier) ?? [], poolsByName, backendsByPool, certificatesByName);
            CheckConsistency(data);
            var payload = data.ToByteString();
            result[tier] = new CompiledTier(tier, data, payload, Convert.ToHexStringLower(SHA256.HashData(payload.Span)));
        }
        return result;
    }

    private SnapshotData CompileTier(
        string tier,
        List<ListenerEntity> listeners,
        Dictionary<string, PoolEntity> pools,
        Dictionary<string, List<BackendEntity>> backendsByPool,
        Dictionary<string, CertificateEntity> certificates)
    {
        var data = new SnapshotData { Tier = tier };
        var usedPools = new SortedSet<string>(StringComparer.Ordinal);
        var usedCertificates = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var entity in listeners)
        {
            var spec = ProtoJson.Parse<ListenerSpec>(entity.SpecJson);
            var listener = new SnapshotListener { Name = entity.Name, Port = spec.Port, Protocol = spec.Protocol };
            if (spec.ProxyProtocol is { } accept)
            {
                listener.ProxyProtocolTrustedSources.AddRange(CanonicalCidrs(accept.TrustedSources));
            }
            listener.Allow.AddRange(CanonicalCidrs(spec.Allow));
            listener.Deny.AddRange(CanonicalCidrs(spec.Deny));
            if (spec.Protocol == "https")
            {
                listener.TlsPolicy = spec.TlsPolicy.Length == 0 ? DefaultTlsPolicy : spec.TlsPolicy;
            }
            if (spec.Protocol == "tcp")
            {
                listener.Pool = spec.Pool;
                usedPools.Add(spec.Pool);
            }
            else
            {
                listener.Routes.AddRange(OrderRoutes(spec.Routes));
                listener.TrustedProxies.AddRange(CanonicalCidrs(spec.TrustedProxies));
                if (spec.Tracing is { SamplingRatio: > 0 } tracing)
                {
                    // Absent when 0, the default: snapshots of listeners without tracing keep their bytes and hash.
                    listener.Tracing = new SnapshotTracing { SamplingRatio = tracing.SamplingRatio };
                }
                usedPools.UnionWith(spec.Routes.Select(r => r.Pool));
                if (spec.Protocol == "https")
                {
                    // Order is meaningful here: the first certificate is the default for clients without SNI.
                    listener.Certificates.AddRange(spec.Certificates);
                    usedCertificates.UnionWith(spec.Certificates);
                }
            }
            data.Listeners.Add(listener);
        }
        foreach (var name in usedPools)
        {
            if (pools.TryGetValue(name, out var pool))
            {
                data.Pools.Add(CompilePool(pool, backendsByPool.GetValueOrDefault(name) ?? []));
            }
        }
        foreach (var name in usedCertificates)
        {
            if (certificates.TryGetValue(name, out var certificate))
            {
                data.Certificates.Add(new SnapshotCertificate
                {
                    Name = certificate.Name,
                    CertificatePem = ProtoJson.Parse<CertificateSpec>(certificate.SpecJson).CertificatePem,
                    PrivateKeyPem = secrets.Unprotect(certificate.EncryptedPrivateKey, certificate.Name),
                    FingerprintSha256 = certificate.FingerprintSha256,
                });
            }
        }
        return data;
    }

    /// <summary>
    /// Most specific first: exact hosts, then wildcards, then any host; within each, the longer
    /// pathPrefix first; ties keep the written order. A route mixing exact and wildcard hosts is
    /// split so each part sorts by its own specificity.
    /// </summary>
    internal static IEnumerable<SnapshotRoute> OrderRoutes(IEnumerable<LoadBalancer.Api.V1.Route> routes)
    {
        var parts = new List<(int Rank, int PathLength, int Order, SnapshotRoute Route)>();
        var order = 0;
        foreach (var route in routes)
        {
            var path = route.PathPrefix.Length == 0 ? "/" : route.PathPrefix;
            var exact = route.Hosts.Where(h => !h.StartsWith("*.", StringComparison.Ordinal)).ToList();
            var wildcard = route.Hosts.Where(h => h.StartsWith("*.", StringComparison.Ordinal)).ToList();
            if (exact.Count > 0)
            {
                parts.Add((0, path.Length, order, new SnapshotRoute { Hosts = { exact }, PathPrefix = path, Pool = route.Pool }));
            }
            if (wildcard.Count > 0)
            {
                parts.Add((1, path.Length, order, new SnapshotRoute { Hosts = { wildcard }, PathPrefix = path, Pool = route.Pool }));
            }
            if (route.Hosts.Count == 0)
            {
                parts.Add((2, path.Length, order, new SnapshotRoute { PathPrefix = path, Pool = route.Pool }));
            }
            order++;
        }
        return parts
            .OrderBy(p => p.Rank)
            .ThenByDescending(p => p.PathLength)
            .ThenBy(p => p.Order)
            .Select(p => p.Route);
    }

    // Deterministic snapshots: each network once, in one spelling, in one order.
    private static IEnumerable<string> CanonicalCidrs(IEnumerable<string> cidrs) =>
        cidrs.Select(c => System.Net.IPNetwork.Parse(c).ToString()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    /// <summary>The pool's session-cookie key in the clear (a bare one predates sealing and is sealed at the next start).</summary>
    private byte[] SessionKeyOf(PoolEntity pool) =>
        pool.SessionKeyIsSealed ? secrets.UnprotectSessionKey(pool.SessionKey, pool.Name) : pool.SessionKey;

    internal SnapshotPool CompilePool(PoolEntity entity, IEnumerable<BackendEntity> backends)
    {
        var spec = ProtoJson.Parse<PoolSpec>(entity.SpecJson);
        var pool = new SnapshotPool
        {
            Name = entity.Name,
            Protocol = spec.Protocol,
            Algorithm = spec.Algorithm.Length == 0 ? DefaultAlgorithm : spec.Algorithm,
            HashOn = spec.HashOn,
            DrainTimeoutMs = Durations.ToMilliseconds(spec.DrainTimeout, DefaultDrainTimeoutMs),
            Retries = spec.HasRetries ? spec.Retries : DefaultRetries,
            ConnectTimeoutMs = Durations.ToMilliseconds(spec.ConnectTimeout, DefaultConnectTimeoutMs),
            RequestTimeoutMs = Durations.ToMilliseconds(spec.RequestTimeout, 0),
            IdleTimeoutMs = Durations.ToMilliseconds(spec.IdleTimeout, 0),
            MaxConnectionsPerBackend = spec.MaxConnectionsPerBackend,
            ProxyProtocol = spec.ProxyProtocol switch { "v1" => 1, "v2" => 2, _ => 0 },
        };
        if (spec.HealthCheck is { } hc)
        {
            var check = new SnapshotHealthCheck
            {
                Type = hc.Type,
                IntervalMs = Durations.ToMilliseconds(hc.Interval, DefaultHealthIntervalMs),
                TimeoutMs = Durations.ToMilliseconds(hc.Timeout, DefaultHealthTimeoutMs),
                HealthyThreshold = hc.HasHealthyThreshold ? hc.HealthyThreshold : DefaultThreshold,
                UnhealthyThreshold = hc.HasUnhealthyThreshold ? hc.UnhealthyThreshold : DefaultThreshold,
                Port = hc.Port,
            };
            if (hc.Type == "http")
            {
                check.Path = hc.Path.Length == 0 ? "/" : hc.Path;
                var expected = hc.ExpectedStatus.Length == 0 ? DefaultExpectedStatus : hc.ExpectedStatus;
                if (!StatusRanges.TryParse(expected, out var ranges))
                {
                    throw new InvalidOperationException($"pool {entity.Name}: expectedStatus '{expected}' is invalid");
                }
                check.ExpectedStatus.AddRange(ranges.Select(r => new StatusRange { From = r.From, To = r.To }));
            }
            pool.HealthCheck = check;
        }
        if (spec.PassiveHealth is { ConsecutiveFailures: > 0 } passive)
        {
            pool.PassiveHealth = new SnapshotPassiveHealth
            {
                ConsecutiveFailures = passive.ConsecutiveFailures,
                EjectionTimeMs = Durations.ToMilliseconds(passive.EjectionTime, DefaultEjectionTimeMs),
                KeepEjectionOnActivePass = passive.KeepEjectionOnActivePass,
            };
        }
        var persistence = spec.SessionPersistence;
        var persistenceType = persistence is null || persistence.Type.Length == 0 ? "none" : persistence.Type;
        pool.SessionPersistence = new SnapshotSessionPersistence
        {
            Type = persistenceType,
            CookieName = persistence?.CookieName ?? "",
            HeaderName = persistence?.HeaderName ?? "",
            TtlMs = Durations.ToMilliseconds(persistence?.Ttl, 0),
            HmacKey = persistenceType == "cookie" ? ByteString.CopyFrom(SessionKeyOf(entity)) : ByteString.Empty,
        };
        if (spec.Protocol == "https" && spec.BackendTls is { } tls)
        {
            pool.BackendTls = new SnapshotBackendTls { CaPem = tls.CaPem, InsecureSkipVerify = tls.InsecureSkipVerify, ServerName = tls.ServerName };
        }
        foreach (var backend in backends.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            var backendSpec = ProtoJson.Parse<BackendSpec>(backend.SpecJson);
            if (Names.TryParseAddress(backendSpec.Address, out var host, out var port) is { } error)
            {
                throw new InvalidOperationException($"backend {backend.Name}: address {error}");
            }
            pool.Backends.Add(new SnapshotBackend
            {
                Name = backend.Name,
                Host = host,
                Port = port,
                Weight = backendSpec.HasWeight ? backendSpec.Weight : 1,
                State = backendSpec.State.Length == 0 ? "enabled" : backendSpec.State,
            });
        }
        return pool;
    }

    /// <summary>Refuses to publish a snapshot that an agent could not apply.</summary>
    internal static void CheckConsistency(SnapshotData data)
    {
        var pools = data.Pools.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var certificates = data.Certificates.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var ports = new Dictionary<int, string>();
        foreach (var listener in data.Listeners)
        {
            if (!ports.TryAdd(listener.Port, listener.Name))
            {
                throw new InvalidOperationException($"tier {data.Tier}: listeners {ports[listener.Port]} and {listener.Name} both use port {listener.Port}");
            }
            if (listener.Protocol == "tcp")
            {
                if (!pools.TryGetValue(listener.Pool, out var pool))
                {
                    throw new InvalidOperationException($"tier {data.Tier}: listener {listener.Name} forwards to missing pool {listener.Pool}");
                }
                if (pool.Protocol != "tcp")
                {
                    throw new InvalidOperationException($"tier {data.Tier}: tcp listener {listener.Name} uses {pool.Protocol} pool {pool.Name}");
                }
                continue;
            }
            foreach (var route in listener.Routes)
            {
                if (!pools.ContainsKey(route.Pool))
                {
                    throw new InvalidOperationException($"tier {data.Tier}: listener {listener.Name} routes to missing pool {route.Pool}");
                }
            }
            if (listener.Protocol == "https" && listener.Certificates.Count == 0)
            {
                throw new InvalidOperationException($"tier {data.Tier}: https listener {listener.Name} has no certificate");
            }
            foreach (var certificate in listener.Certificates)
            {
                if (!certificates.Contains(certificate))
                {
                    throw new InvalidOperationException($"tier {data.Tier}: listener {listener.Name} names missing certificate {certificate}");
                }
            }
        }
    }
}
