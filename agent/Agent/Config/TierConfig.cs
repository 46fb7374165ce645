using System.Collections.Frozen;

namespace LoadBalancer.Agent.Config;

/// <summary>
/// A validated, immutable view of one snapshot of the agent's tier: what the agent applies. Value
/// equality of the records decides what changed between two snapshots, so untouched parts are
/// left alone. (Not lb.v1.AgentConfig, the management API's applied-against-stored comparison.)
/// </summary>
public sealed record TierConfig(
    long Revision,
    string Hash,
    string Tier,
    IReadOnlyList<ListenerConfig> Listeners,
    IReadOnlyList<PoolConfig> Pools,
    IReadOnlyList<CertificateConfig> Certificates)
{
    public static TierConfig Empty { get; } = new(0, string.Empty, string.Empty, [], [], []);
}

public sealed record ListenerConfig(
    string Name,
    int Port,
    string Protocol,
    EquatableArray<string> Certificates,
    EquatableArray<RouteConfig> Routes,
    string Pool,
    EquatableArray<string> TrustedProxies = default,
    CidrSet? ProxyProtocolTrustedSources = null,
    CidrSet? Allow = null,
    CidrSet? Deny = null,
    string TlsPolicy = Tls.TlsPolicies.Intermediate,
    double TracingSamplingRatio = 0)
{
    /// <summary>Whether a client at <paramref name="address"/> may connect: allow (when set) lets it in, deny keeps it out.</summary>
    public bool Admits(System.Net.IPAddress address) =>
        (Allow is null || Allow.Contains(address)) && (Deny is null || !Deny.Contains(address));

    public bool IsTcp => Protocol == "tcp";

    public bool IsHttps => Protocol == "https";
}

/// <summary>
/// One route: its hosts, then any of <see cref="Matches"/> (none: <see cref="PathPrefix"/>), then
/// <see cref="Pool"/> or a weighted split over <see cref="Backends"/> (or neither when
/// <see cref="Redirect"/> answers), with Gateway API's HTTPRoute filters.
/// </summary>
public sealed record RouteConfig(EquatableArray<string> Hosts, string PathPrefix, string Pool)
{
    public EquatableArray<RouteMatchConfig> Matches { get; init; } = EquatableArray<RouteMatchConfig>.Empty;

    public EquatableArray<WeightedPoolConfig> Backends { get; init; } = EquatableArray<WeightedPoolConfig>.Empty;

    public RedirectConfig? Redirect { get; init; }

    public RewriteConfig? Rewrite { get; init; }

    public HeaderModifierConfig? RequestHeaders { get; init; }

    public HeaderModifierConfig? ResponseHeaders { get; init; }

    /// <summary>Each attempt's timeout instead of the pool's requestTimeout; zero: the pool's.</summary>
    public TimeSpan BackendRequestTimeout { get; init; }

    /// <summary>Retries instead of the pool's; null: the pool's.</summary>
    public int? Retries { get; init; }

    /// <summary>True when a filter changes the request or answers it: the YARP path serves such routes.</summary>
    public bool HasFilters => Redirect is not null || Rewrite is not null || RequestHeaders is not null || ResponseHeaders is not null;
}

/// <param name="PathType">Exact, PathPrefix or RegularExpression.</param>
/// <param name="Method">Empty: any method.</param>
public sealed record RouteMatchConfig(
    string PathType,
    string PathValue,
    string Method,
    EquatableArray<ValueMatchConfig> Headers,
    EquatableArray<ValueMatchConfig> QueryParams);

/// <param name="Type">Exact or RegularExpression.</param>
public sealed record ValueMatchConfig(string Type, string Name, string Value);

public sealed record WeightedPoolConfig(string Pool, int Weight);

/// <param name="Scheme">Empty: the request's.</param>
/// <param name="Hostname">Empty: the request's host.</param>
/// <param name="Port">0: derived as Gateway API says (the scheme's well-known port, or the listener's).</param>
/// <param name="Path">Null: the request's path.</param>
public sealed record RedirectConfig(string Scheme, string Hostname, int Port, PathModifierConfig? Path, int StatusCode);

public sealed record RewriteConfig(string Hostname, PathModifierConfig? Path);

/// <param name="Type">ReplaceFullPath or ReplacePrefixMatch.</param>
public sealed record PathModifierConfig(string Type, string Value);

public sealed record HeaderModifierConfig(EquatableArray<HeaderValueConfig> Set, EquatableArray<HeaderValueConfig> Add, EquatableArray<string> Remove);

public sealed record HeaderValueConfig(string Name, string Value);

public sealed record HealthCheckConfig(
    string Type,
    string Path,
    TimeSpan Interval,
    TimeSpan Timeout,
    int HealthyThreshold,
    int UnhealthyThreshold,
    EquatableArray<StatusRangeConfig> ExpectedStatus,
    int Port);

public sealed record StatusRangeConfig(int From, int To);

/// <param name="KeepEjectionOnActivePass">False (the default): a passing active check lifts an ejection early.</param>
public sealed record PassiveHealthConfig(int ConsecutiveFailures, TimeSpan EjectionTime, bool KeepEjectionOnActivePass = false);

public sealed record SessionPersistenceConfig(string Type, string CookieName, string HeaderName, TimeSpan Ttl, EquatableArray<byte> HmacKey);

/// <param name="ServerName">The name checked against backends' certificates (and sent as SNI); empty: each backend's address host.</param>
public sealed record BackendTlsConfig(string CaPem, bool InsecureSkipVerify, string ServerName = "");

public sealed record BackendConfig(string Name, string Host, int Port, int Weight, string State);

public sealed record PoolConfig(
    string Name,
    string Protocol,
    string Algorithm,
    string HashOn,
    HealthCheckConfig? HealthCheck,
    PassiveHealthConfig? PassiveHealth,
    SessionPersistenceConfig? SessionPersistence,
    TimeSpan DrainTimeout,
    int Retries,
    TimeSpan ConnectTimeout,
    TimeSpan RequestTimeout,
    TimeSpan IdleTimeout,
    int MaxConnectionsPerBackend,
    BackendTlsConfig? BackendTls,
    EquatableArray<BackendConfig> Backends,
    int ProxyProtocol = 0);

/// <summary>A set of networks (CIDRs, as validated by the control plane), parsed once, compared by their text.</summary>
public sealed record CidrSet(EquatableArray<string> Cidrs)
{
    private System.Net.IPNetwork[]? _networks;

    public static CidrSet? Of(IEnumerable<string> cidrs)
    {
        var array = cidrs.ToArray();
        return array.Length == 0 ? null : new CidrSet(new EquatableArray<string>(array));
    }

    public bool Contains(System.Net.IPAddress address)
    {
        var networks = _networks ??= [.. Cidrs.Select(System.Net.IPNetwork.Parse)];
        // A dual-mode socket reports IPv4 clients as ::ffff:a.b.c.d.
        var v4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in networks)
        {
            if (network.Contains(v4) || network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    // The parsed networks are a cache of the CIDRs: equality is over the text only.
    public bool Equals(CidrSet? other) => other is not null && Cidrs.Equals(other.Cidrs);

    public override int GetHashCode() => Cidrs.GetHashCode();
}

public sealed record CertificateConfig(string Name, string CertificatePem, string PrivateKeyPem, string Fingerprint)
{
    // The key must never reach a log line through a record's generated ToString.
    public override string ToString() => $"Certificate {Name} ({Fingerprint})";
}

/// <summary>An immutable array with value equality, so records holding lists compare by content.</summary>
public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T>
{
    private readonly T[]? _items;

    public EquatableArray(T[] items) => _items = items;

    public static EquatableArray<T> Empty => new([]);

    public int Count => _items?.Length ?? 0;

    public T this[int index] => _items![index];

    public ReadOnlySpan<T> AsSpan() => _items;

    public bool Equals(EquatableArray<T> other) =>
        AsSpan().SequenceEqual(other.AsSpan(), EqualityComparer<T>.Default);

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in AsSpan())
        {
            hash.Add(item);
        }
        return hash.ToHashCode();
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? [])).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public static bool operator ==(EquatableArray<T> left, EquatableArray<T> right) => left.Equals(right);

    public static bool operator !=(EquatableArray<T> left, EquatableArray<T> right) => !left.Equals(right);

    public override string ToString() => $"[{string.Join(", ", _items ?? [])}]";
}

internal static class EquatableArrayExtensions
{
    public static EquatableArray<T> ToEquatableArray<T>(this IEnumerable<T> items) => new(items.ToArray());

    public static FrozenDictionary<string, T> ToFrozenByName<T>(this IEnumerable<T> items, Func<T, string> name) =>
        items.ToFrozenDictionary(name, StringComparer.Ordinal);
}
