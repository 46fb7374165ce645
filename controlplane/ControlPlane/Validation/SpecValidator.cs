using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>The store as a write would leave it: existing resources overlaid with the ones being written.</summary>
public sealed class StoreView
{
    public Dictionary<string, PoolSpec> Pools { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, ListenerSpec> Listeners { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Certificates { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Field-by-field rules of every kind. Each method adds all violations it finds, with the
/// field path in protobuf JSON names (prefixed by e.g. "Listener/web: " inside Apply).
/// </summary>
public static class SpecValidator
{
    public const int MaxStringLength = 4096;
    public const int MaxRoutes = 1000;
    public const int MaxHostsPerRoute = 100;
    public const int MaxCertificatesPerListener = 100;
    public const int MaxLabels = 64;

    public static readonly IReadOnlySet<string> Protocols = new HashSet<string>(StringComparer.Ordinal) { "http", "https", "tcp" };

    public static readonly IReadOnlySet<string> Algorithms = new HashSet<string>(StringComparer.Ordinal)
    {
        "round-robin", "weighted-round-robin", "least-connections", "weighted-least-connections",
        "least-response-time", "random", "power-of-two", "ip-hash", "consistent-hash",
    };

    public static readonly IReadOnlySet<string> BackendStates = new HashSet<string>(StringComparer.Ordinal) { "enabled", "draining", "disabled" };

    private static readonly TimeSpan OneHour = TimeSpan.FromHours(1);
    private static readonly TimeSpan OneDay = TimeSpan.FromHours(24);

    /// <param name="givenName">The name as the caller wrote it, before lowercasing, for the message.</param>
    public static void ValidateMetadata(ObjectMeta? metadata, Violations v, string prefix, string? givenName = null)
    {
        var name = metadata?.Name ?? "";
        if (name.Length == 0)
        {
            v.Add(prefix + "metadata.name", "required");
        }
        else if (!Names.IsDnsLabel(name))
        {
            v.Add(prefix + "metadata.name", $"'{Clip(givenName ?? name)}' is not a DNS label (letters, digits and '-', starting and ending with a letter or digit, at most 63 characters; case does not matter)");
        }
        if (metadata is null)
        {
            return;
        }
        if (metadata.Labels.Count > MaxLabels)
        {
            v.Add(prefix + "metadata.labels", $"at most {MaxLabels} labels are allowed, found {metadata.Labels.Count}");
        }
        foreach (var (key, value) in metadata.Labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            if (!Names.IsLabelKey(key))
            {
                v.Add(prefix + $"metadata.labels[{Clip(key)}]", "key must be at most 63 characters: an optional DNS prefix and '/', then letters, digits, '-', '_' or '.', starting and ending with a letter or digit");
            }
            if (!Names.IsLabelValue(value))
            {
                v.Add(prefix + $"metadata.labels[{Clip(key)}]", "value must be empty or at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit");
            }
        }
    }

    // ------------------------------------------------------------------ Pool

    public static void ValidatePool(string name, PoolSpec? spec, StoreView view, Violations v, string prefix)
    {
        if (spec is null)
        {
            v.Add(prefix + "spec", "required");
            return;
        }
        var p = prefix + "spec.";
        var protocol = spec.Protocol;
        if (protocol.Length == 0)
        {
            v.Add(p + "protocol", "required: one of http, https, tcp");
        }
        else if (!Protocols.Contains(protocol))
        {
            v.Add(p + "protocol", $"'{Clip(protocol)}' is not one of http, https, tcp");
        }
        var algorithm = spec.Algorithm.Length == 0 ? "round-robin" : spec.Algorithm;
        if (!Algorithms.Contains(algorithm))
        {
            v.Add(p + "algorithm", $"'{Clip(algorithm)}' is not one of {string.Join(", ", Algorithms.Order(StringComparer.Ordinal))}");
        }
        if (algorithm == "consistent-hash")
        {
            if (spec.HashOn.Length == 0)
            {
                v.Add(p + "hashOn", "required for algorithm consistent-hash: source-ip, header NAME, cookie NAME or path");
            }
            else if (!IsValidHashOn(spec.HashOn))
            {
                v.Add(p + "hashOn", $"'{Clip(spec.HashOn)}' must be source-ip, header NAME, cookie NAME or path (NAME an HTTP token)");
            }
            else if (protocol == "tcp" && spec.HashOn != "source-ip")
            {
                v.Add(p + "hashOn", "a tcp pool can hash only on source-ip");
            }
        }
        else if (spec.HashOn.Length > 0)
        {
            v.Add(p + "hashOn", $"only allowed with algorithm consistent-hash, not {Clip(algorithm)}");
        }

        if (spec.HealthCheck is { } hc)
        {
            ValidateHealthCheck(hc, v, p + "healthCheck.");
        }
        if (spec.PassiveHealth is { } ph)
        {
            if (ph.ConsecutiveFailures is < 0 or > 100)
            {
                v.Add(p + "passiveHealth.consecutiveFailures", "must be from 1 to 100 (0 turns passive health off)");
            }
            CheckDuration(ph.EjectionTime, p + "passiveHealth.ejectionTime", OneHour, v);
        }
        if (spec.SessionPersistence is { } sp)
        {
            ValidatePersistence(sp, protocol, v, p + "sessionPersistence.");
        }
        if (spec.Retries is < 0 or > 10)
        {
            v.Add(p + "retries", $"must be from 0 to 10, not {spec.Retries}");
        }
        CheckDuration(spec.DrainTimeout, p + "drainTimeout", OneDay, v);
        CheckDuration(spec.ConnectTimeout, p + "connectTimeout", OneDay, v);
        CheckDuration(spec.RequestTimeout, p + "requestTimeout", OneDay, v);
        CheckDuration(spec.IdleTimeout, p + "idleTimeout", OneDay, v);
        if (spec.IdleTimeout.Length > 0 && protocol is "http" or "https")
        {
            v.Add(p + "idleTimeout", "only allowed for tcp pools (use requestTimeout for http)");
        }
        if (spec.ProxyProtocol.Length > 0)
        {
            if (spec.ProxyProtocol is not ("v1" or "v2"))
            {
                v.Add(p + "proxyProtocol", $"'{Clip(spec.ProxyProtocol)}' is not one of v1, v2");
            }
            else if (protocol is "http" or "https")
            {
                v.Add(p + "proxyProtocol", "only allowed for tcp pools (http pools pass the client's address in X-Forwarded-For)");
            }
        }
        if (spec.MaxConnectionsPerBackend is < 0 or > 1_000_000)
        {
            v.Add(p + "maxConnectionsPerBackend", "must be from 0 (unlimited) to 1000000");
        }
        if (spec.BackendTls is { } tls)
        {
            if (protocol != "https")
            {
                v.Add(p + "backendTls", "only allowed for protocol https");
            }
            if (tls.InsecureSkipVerify && tls.CaPem.Length > 0)
            {
                v.Add(p + "backendTls", "caPem and insecureSkipVerify are exclusive");
            }
            if (tls.ServerName.Length > 0 && !Names.IsHostname(tls.ServerName) && !System.Net.IPAddress.TryParse(tls.ServerName, out _))
            {
                v.Add(p + "backendTls.serverName", "must be a DNS name (lowercase letters, digits, '-' and '.', at most 253) or an IP address");
            }
            if (tls.CaPem.Length > CertificateInspector.MaxCertificatePemBytes)
            {
                v.Add(p + "backendTls.caPem", $"must be at most {CertificateInspector.MaxCertificatePemBytes / 1024} KiB");
            }
            // A bundle with another block (a pasted key) gets its own violation from the check.
            else if (tls.CaPem.Length > 0 && CertificateInspector.CheckOnlyCertificateBlocks(tls.CaPem, v, p + "backendTls.caPem") && !ParsesAsCertificates(tls.CaPem))
            {
                v.Add(p + "backendTls.caPem", "must be one or more PEM certificates");
            }
        }

        // The pool must stay usable by the listeners that route to it.
        if (Protocols.Contains(protocol))
        {
            foreach (var (listenerName, listener) in view.Listeners.OrderBy(l => l.Key, StringComparer.Ordinal))
            {
                if (listener.Protocol == "tcp" && listener.Pool == name && protocol != "tcp")
                {
                    v.Add(p + "protocol", $"must stay tcp: tcp listener {listenerName} forwards to this pool");
                }
                else if (listener.Protocol is "http" or "https" && protocol == "tcp" && listener.Routes.Any(r => r.Pool == name))
                {
                    v.Add(p + "protocol", $"must stay http or https: listener {listenerName} routes HTTP requests to this pool");
                }
            }
        }
    }

    private static void ValidateHealthCheck(HealthCheck hc, Violations v, string p)
    {
        if (hc.Type is not ("http" or "tcp"))
        {
            v.Add(p + "type", hc.Type.Length == 0 ? "required: http or tcp" : $"'{Clip(hc.Type)}' is not http or tcp");
        }
        if (hc.Path.Length > 0)
        {
            if (hc.Type == "tcp")
            {
                v.Add(p + "path", "only allowed for http health checks");
            }
            else if (!hc.Path.StartsWith('/') || hc.Path.Length > MaxStringLength || hc.Path.Any(char.IsWhiteSpace))
            {
                v.Add(p + "path", "must start with '/' and contain no spaces");
            }
        }
        if (hc.ExpectedStatus.Length > 0)
        {
            if (hc.Type == "tcp")
            {
                v.Add(p + "expectedStatus", "only allowed for http health checks");
            }
            else if (!StatusRanges.TryParse(hc.ExpectedStatus, out _))
            {
                v.Add(p + "expectedStatus", $"'{Clip(hc.ExpectedStatus)}' must be codes or ranges from 100 to 599, like 200-399 or 200,204,300-399");
            }
        }
        TimeSpan? interval = CheckDuration(hc.Interval, p + "interval", OneHour, v);
        TimeSpan? timeout = CheckDuration(hc.Timeout, p + "timeout", OneHour, v);
        var effectiveInterval = interval ?? (hc.Interval.Length == 0 ? TimeSpan.FromSeconds(5) : null);
        var effectiveTimeout = timeout ?? (hc.Timeout.Length == 0 ? TimeSpan.FromSeconds(2) : null);
        if (effectiveInterval is { } i && effectiveTimeout is { } t && t >= i)
        {
            v.Add(p + "timeout", $"must be shorter than the interval ({FormatMs(i)})");
        }
        if (hc.HasHealthyThreshold && hc.HealthyThreshold is < 1 or > 10)
        {
            v.Add(p + "healthyThreshold", "must be from 1 to 10");
        }
        if (hc.HasUnhealthyThreshold && hc.UnhealthyThreshold is < 1 or > 10)
        {
            v.Add(p + "unhealthyThreshold", "must be from 1 to 10");
        }
        if (hc.Port is < 0 or > 65535)
        {
            v.Add(p + "port", "must be from 0 (the backend's port) to 65535");
        }
    }

    private static void ValidatePersistence(SessionPersistence sp, string protocol, Violations v, string p)
    {
        var type = sp.Type.Length == 0 ? "none" : sp.Type;
        switch (type)
        {
            case "none":
            case "source-ip":
                break;
            case "cookie":
                if (sp.CookieName.Length == 0)
                {
                    v.Add(p + "cookieName", "required for cookie persistence");
                }
                else if (!Names.IsHttpToken(sp.CookieName))
                {
                    v.Add(p + "cookieName", $"'{Clip(sp.CookieName)}' is not a valid cookie name (RFC 6265 token characters only)");
                }
                break;
            case "header":
                if (sp.HeaderName.Length == 0)
                {
                    v.Add(p + "headerName", "required for header persistence");
                }
                else if (!Names.IsHttpToken(sp.HeaderName))
                {
                    v.Add(p + "headerName", $"'{Clip(sp.HeaderName)}' is not a valid HTTP header name");
                }
                break;
            default:
                v.Add(p + "type", $"'{Clip(type)}' is not one of none, cookie, header, source-ip");
                break;
        }
        if (type is "cookie" or "header" && protocol == "tcp")
        {
            v.Add(p + "type", $"{type} persistence needs HTTP; a tcp pool can use source-ip");
        }
        if (type != "cookie" && sp.CookieName.Length > 0)
        {
            v.Add(p + "cookieName", "only allowed for cookie persistence");
        }
        if (type != "header" && sp.HeaderName.Length > 0)
        {
            v.Add(p + "headerName", "only allowed for header persistence");
        }
        CheckDuration(sp.Ttl, p + "ttl", TimeSpan.FromDays(30), v);
    }

    private static bool IsValidHashOn(string hashOn)
    {
        if (hashOn is "source-ip" or "path")
        {
            return true;
        }
        var space = hashOn.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0)
        {
            return false;
        }
        var kind = hashOn[..space];
        return kind is "header" or "cookie" && Names.IsHttpToken(hashOn[(space + 1)..]);
    }

    // ------------------------------------------------------------------ Backend

    public static void ValidateBackend(BackendSpec? spec, StoreView view, Violations v, string prefix)
    {
        if (spec is null)
        {
            v.Add(prefix + "spec", "required");
            return;
        }
        var p = prefix + "spec.";
        if (spec.Pool.Length == 0)
        {
            v.Add(p + "pool", "required");
        }
        else if (!Names.IsDnsLabel(spec.Pool))
        {
            v.Add(p + "pool", $"'{Clip(spec.Pool)}' is not a valid pool name");
        }
        else if (!view.Pools.ContainsKey(spec.Pool))
        {
            v.Add(p + "pool", $"pool {spec.Pool} does not exist");
        }
        if (spec.Address.Length > 300)
        {
            v.Add(p + "address", "must be at most 300 characters");
        }
        else if (Names.TryParseAddress(spec.Address, out _, out _) is { } error)
        {
            v.Add(p + "address", error);
        }
        if (spec.HasWeight && spec.Weight is < 1 or > 1000)
        {
            v.Add(p + "weight", $"must be from 1 to 1000, not {spec.Weight}");
        }
        if (spec.State.Length > 0 && !BackendStates.Contains(spec.State))
        {
            v.Add(p + "state", $"'{Clip(spec.State)}' is not one of enabled, draining, disabled");
        }
    }

    // ------------------------------------------------------------------ Listener

    public static void ValidateListener(string name, ListenerSpec? spec, StoreView view, Violations v, string prefix)
    {
        if (spec is null)
        {
            v.Add(prefix + "spec", "required");
            return;
        }
        var p = prefix + "spec.";
        if (spec.Tier.Length == 0)
        {
            v.Add(p + "tier", "required");
        }
        else if (!Names.IsDnsLabel(spec.Tier))
        {
            v.Add(p + "tier", $"'{Clip(spec.Tier)}' is not a DNS label");
        }
        if (spec.Port is < 1 or > 65535)
        {
            v.Add(p + "port", spec.Port == 0 ? "required: 1 to 65535" : $"must be from 1 to 65535, not {spec.Port}");
        }
        else if (spec.Tier.Length > 0)
        {
            foreach (var (otherName, other) in view.Listeners.OrderBy(l => l.Key, StringComparer.Ordinal))
            {
                if (otherName != name && other.Tier == spec.Tier && other.Port == spec.Port)
                {
                    v.Add(p + "port", $"port {spec.Port} is already used by listener {otherName} in tier {spec.Tier}");
                }
            }
        }
        ValidateCidrs(spec.Allow, p + "allow", v);
        ValidateCidrs(spec.Deny, p + "deny", v);
        if (spec.TlsPolicy.Length > 0)
        {
            if (spec.TlsPolicy is not ("modern" or "intermediate"))
            {
                v.Add(p + "tlsPolicy", $"'{Clip(spec.TlsPolicy)}' is not one of modern (TLS 1.3 only), intermediate (TLS 1.2 and 1.3, AEAD ciphers)");
            }
            else if (spec.Protocol != "https")
            {
                v.Add(p + "tlsPolicy", "only allowed for protocol https");
            }
        }
        switch (spec.Protocol)
        {
            case "http":
            case "https":
                ValidateRoutes(spec, view, v, p);
                ValidateTrustedProxies(spec, v, p);
                ValidateProxyProtocolAccept(spec, v, p);
                ValidateTracing(spec.Tracing, v, p);
                if (spec.Pool.Length > 0)
                {
                    v.Add(p + "pool", $"not allowed for protocol {spec.Protocol}; use routes");
                }
                if (spec.Protocol == "https")
                {
                    ValidateCertificateRefs(spec, view, v, p);
                }
                else if (spec.Certificates.Count > 0)
                {
                    v.Add(p + "certificates", "not allowed for protocol http; use https to terminate TLS");
                }
                break;
            case "tcp":
                if (spec.TrustedProxies.Count > 0)
                {
                    v.Add(p + "trustedProxies", "not allowed for protocol tcp: it forwards no headers");
                }
                if (spec.Tracing is not null)
                {
                    v.Add(p + "tracing", "not allowed for protocol tcp: tcp connections are not traced");
                }
                if (spec.Pool.Length == 0)
                {
                    v.Add(p + "pool", "required for protocol tcp");
                }
                else if (!view.Pools.TryGetValue(spec.Pool, out var pool))
                {
                    v.Add(p + "pool", $"pool {Clip(spec.Pool)} does not exist");
                }
                else if (pool.Protocol != "tcp")
                {
                    v.Add(p + "pool", $"pool {spec.Pool} has protocol {pool.Protocol}; a tcp listener needs a tcp pool");
                }
                if (spec.Routes.Count > 0)
                {
                    v.Add(p + "routes", "not allowed for protocol tcp; use pool");
                }
                if (spec.Certificates.Count > 0)
                {
                    v.Add(p + "certificates", "not allowed for protocol tcp");
                }
                ValidateProxyProtocolAccept(spec, v, p);
                break;
            case "":
                v.Add(p + "protocol", "required: one of http, https, tcp");
                break;
            default:
                v.Add(p + "protocol", $"'{Clip(spec.Protocol)}' is not one of http, https, tcp");
                break;
        }
    }

    public const int MaxTrustedProxies = 100;

    private static void ValidateTracing(ListenerTracing? tracing, Violations v, string p)
    {
        // NaN fails both comparisons: it is caught by the negated range test.
        if (tracing is not null && !(tracing.SamplingRatio >= 0 && tracing.SamplingRatio <= 1))
        {
            v.Add(p + "tracing.samplingRatio", $"must be from 0 to 1 (the share of requests without a traceparent that start a trace), not {tracing.SamplingRatio.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }
    }

    private static void ValidateTrustedProxies(ListenerSpec spec, Violations v, string p) =>
        ValidateCidrs(spec.TrustedProxies, p + "trustedProxies", v);

    private static void ValidateCidrs(IReadOnlyList<string> cidrs, string field, Violations v)
    {
        if (cidrs.Count > MaxTrustedProxies)
        {
            v.Add(field, $"at most {MaxTrustedProxies} CIDRs are allowed");
            return;
        }
        for (var i = 0; i < cidrs.Count; i++)
        {
            var cidr = cidrs[i];
            // Host bits past the prefix ("10.0.0.1/8") are a mistake, not a shorthand for 10.0.0.0/8.
            var slash = cidr.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0 || !System.Net.IPNetwork.TryParse(cidr, out var network)
                || !System.Net.IPAddress.TryParse(cidr.AsSpan(0, slash), out var address) || !address.Equals(network.BaseAddress))
            {
                v.Add($"{field}[{i}]", $"'{Clip(cidr)}' is not a CIDR such as 10.0.0.0/8 or fd00::/8 (prefix length required, no bits set past it)");
            }
        }
    }

    /// <summary>A listener's proxyProtocol: the load balancers in front it is accepted (and required) from.</summary>
    private static void ValidateProxyProtocolAccept(ListenerSpec spec, Violations v, string p)
    {
        if (spec.ProxyProtocol is not { } accept)
        {
            return;
        }
        if (accept.TrustedSources.Count == 0)
        {
            v.Add(p + "proxyProtocol.trustedSources", "required: the CIDRs of the load balancers in front that send the PROXY protocol (connections from anywhere else are refused)");
            return;
        }
        ValidateCidrs(accept.TrustedSources, p + "proxyProtocol.trustedSources", v);
    }

    private static void ValidateRoutes(ListenerSpec spec, StoreView view, Violations v, string p)
    {
        if (spec.Routes.Count == 0)
        {
            v.Add(p + "routes", $"at least one route is required for protocol {spec.Protocol}");
            return;
        }
        if (spec.Routes.Count > MaxRoutes)
        {
            v.Add(p + "routes", $"at most {MaxRoutes} routes are allowed, found {spec.Routes.Count}");
            return;
        }
        var seen = new Dictionary<(string Host, string Path), int>();
        for (var r = 0; r < spec.Routes.Count; r++)
        {
            var route = spec.Routes[r];
            var rp = $"{p}routes[{r}].";
            if (route.Hosts.Count > MaxHostsPerRoute)
            {
                v.Add(rp + "hosts", $"at most {MaxHostsPerRoute} hosts are allowed, found {route.Hosts.Count}");
            }
            else
            {
                for (var h = 0; h < route.Hosts.Count; h++)
                {
                    if (!Names.IsRouteHost(route.Hosts[h]))
                    {
                        v.Add($"{rp}hosts[{h}]", $"'{Clip(route.Hosts[h])}' is not a hostname or a wildcard like *.example.com");
                    }
                }
            }
            var path = route.PathPrefix.Length == 0 ? "/" : route.PathPrefix;
            if (!path.StartsWith('/') || path.Length > MaxStringLength || path.Any(char.IsWhiteSpace))
            {
                v.Add(rp + "pathPrefix", "must start with '/' and contain no spaces");
            }
            if (route.Pool.Length == 0)
            {
                v.Add(rp + "pool", "required");
            }
            else if (!view.Pools.TryGetValue(route.Pool, out var pool))
            {
                v.Add(rp + "pool", $"pool {Clip(route.Pool)} does not exist");
            }
            else if (pool.Protocol is not ("http" or "https"))
            {
                v.Add(rp + "pool", $"pool {route.Pool} has protocol {pool.Protocol}; HTTP routes need an http or https pool");
            }
            IEnumerable<string> hosts = route.Hosts.Count == 0 ? [""] : route.Hosts;
            foreach (var host in hosts.Distinct(StringComparer.Ordinal))
            {
                if (seen.TryGetValue((host, path), out var first))
                {
                    v.Add(rp + "hosts", $"host '{(host.Length == 0 ? "*any*" : host)}' with pathPrefix '{Clip(path)}' is already routed by routes[{first}]");
                }
                else
                {
                    seen[(host, path)] = r;
                }
            }
        }
    }

    private static void ValidateCertificateRefs(ListenerSpec spec, StoreView view, Violations v, string p)
    {
        if (spec.Certificates.Count == 0)
        {
            v.Add(p + "certificates", "at least one certificate is required for protocol https");
            return;
        }
        if (spec.Certificates.Count > MaxCertificatesPerListener)
        {
            v.Add(p + "certificates", $"at most {MaxCertificatesPerListener} certificates are allowed");
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var c = 0; c < spec.Certificates.Count; c++)
        {
            var certificate = spec.Certificates[c];
            if (!seen.Add(certificate))
            {
                v.Add($"{p}certificates[{c}]", $"certificate {Clip(certificate)} is listed twice");
            }
            else if (!view.Certificates.Contains(certificate))
            {
                v.Add($"{p}certificates[{c}]", $"certificate {Clip(certificate)} does not exist");
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Checks an optional duration: when given it must parse, be &gt; 0 and at most <paramref name="max"/>.</summary>
    private static TimeSpan? CheckDuration(string text, string field, TimeSpan max, Violations v)
    {
        if (text.Length == 0)
        {
            return null;
        }
        if (!Durations.TryParse(text, out var value))
        {
            v.Add(field, $"'{Clip(text)}' is not a duration like 500ms, 2s, 1m or 1h30m");
            return null;
        }
        if (value <= TimeSpan.Zero)
        {
            v.Add(field, "must be greater than 0");
            return null;
        }
        if (value > max)
        {
            v.Add(field, $"must be at most {FormatMs(max)}");
            return null;
        }
        return value;
    }

    private static string FormatMs(TimeSpan value) =>
        value.TotalHours >= 1 && value.TotalHours % 1 == 0 ? $"{value.TotalHours}h"
        : value.TotalSeconds % 1 == 0 ? $"{value.TotalSeconds}s" : $"{value.TotalMilliseconds}ms";

    private static bool ParsesAsCertificates(string pem)
    {
        try
        {
            var collection = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            collection.ImportFromPem(pem);
            var any = collection.Count > 0;
            foreach (var certificate in collection)
            {
                certificate.Dispose();
            }
            return any;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Keeps user input in error messages short.</summary>
    internal static string Clip(string value) => value.Length <= 80 ? value : value[..77] + "...";
}
