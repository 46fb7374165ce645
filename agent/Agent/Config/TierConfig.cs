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
    ProxyProtocolAcceptConfig? ProxyProtocol = null,
    CidrSet? Allow = null,
    CidrSet? Deny = null,
    string TlsPolicy = "intermediate",
    double TracingSamplingRatio = 0)
{
    /// <summary>Whether a client at <paramref name="address"/> may connect: allow (when set) lets it in, deny keeps it out.</summary>
    public bool Admits(System.Net.IPAddress address) =>
        (Allow is null || Allow.Contains(address)) && (Deny is null || !Deny.Contains(address));

    public bool IsTcp => Protocol == "tcp";

    public bool IsHttps => Protocol == "https";
}

public sealed record RouteConfig(EquatableArray<string> Hosts, string PathPrefix, string Pool);

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

/// <summary>
/// A tcp listener behind another load balancer: a PROXY protocol header is required from the
/// <paramref name="TrustedSources"/> (CIDRs) and connections from anywhere else are refused.
/// </summary>
public sealed record ProxyProtocolAcceptConfig(CidrSet TrustedSources)
{
    public bool Trusts(System.Net.IPAddress address) => TrustedSources.Contains(address);
}

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
