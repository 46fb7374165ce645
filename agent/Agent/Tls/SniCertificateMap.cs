using System.Collections.Frozen;
using System.Net.Security;

namespace LoadBalancer.Agent.Tls;

/// <summary>
/// The certificates of one https listener, chosen by SNI: an exact DNS name first, then a
/// wildcard, then the listener's first certificate. Immutable; a rotation swaps in a new map,
/// so handshakes in progress and open connections keep the certificate they started with.
/// </summary>
public sealed class SniCertificateMap
{
    private readonly FrozenDictionary<string, LoadedCertificate> _exact;
    private readonly FrozenDictionary<string, LoadedCertificate> _wildcard;

    // The handshake options of each certificate under this listener's TLS policy.
    private readonly Dictionary<LoadedCertificate, TlsPolicyOptions> _options = new(ReferenceEqualityComparer.Instance);

    /// <param name="tlsPolicy">modern or intermediate (see <see cref="TlsPolicies"/>).</param>
    public SniCertificateMap(IReadOnlyList<LoadedCertificate> certificates, string tlsPolicy = TlsPolicies.Intermediate)
    {
        if (certificates.Count == 0)
        {
            throw new ArgumentException("an https listener needs at least one certificate", nameof(certificates));
        }
        Default = certificates[0];
        var exact = new Dictionary<string, LoadedCertificate>(StringComparer.OrdinalIgnoreCase);
        var wildcard = new Dictionary<string, LoadedCertificate>(StringComparer.OrdinalIgnoreCase);
        foreach (var certificate in certificates)
        {
            foreach (var name in certificate.DnsNames)
            {
                if (name.StartsWith("*.", StringComparison.Ordinal))
                {
                    wildcard.TryAdd(name[2..], certificate);
                }
                else
                {
                    exact.TryAdd(name, certificate);
                }
            }
        }
        _exact = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _wildcard = wildcard.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        Certificates = certificates;
        foreach (var certificate in certificates)
        {
            _options.TryAdd(certificate, TlsPolicies.Apply(tlsPolicy, certificate.Options));
        }
    }

    public LoadedCertificate Default { get; }

    public IReadOnlyList<LoadedCertificate> Certificates { get; }

    public LoadedCertificate Select(string? serverName)
    {
        if (string.IsNullOrEmpty(serverName))
        {
            return Default;
        }
        if (_exact.TryGetValue(serverName, out var exact))
        {
            return exact;
        }
        // A wildcard covers exactly one label: *.example.com matches a.example.com, not a.b.example.com.
        var dot = serverName.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && _wildcard.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(serverName.AsSpan(dot + 1), out var wildcard))
        {
            return wildcard;
        }
        return Default;
    }

    /// <summary>The handshake options for a client hello: its server name and whether it offers TLS 1.3.</summary>
    public SslServerAuthenticationOptions SelectOptions(string? serverName, bool offersTls13) =>
        _options[Select(serverName)].For(offersTls13);
}
