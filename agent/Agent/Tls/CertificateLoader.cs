using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Tls;

/// <summary>A certificate of the snapshot made ready for handshakes, with the names it answers for.</summary>
public sealed class LoadedCertificate(string name, string fingerprint, X509Certificate2 leaf, SslServerAuthenticationOptions options, IReadOnlyList<string> dnsNames)
{
    public string Name { get; } = name;

    public string Fingerprint { get; } = fingerprint;

    public X509Certificate2 Leaf { get; } = leaf;

    /// <summary>Built once per certificate version and reused by every handshake (keeps session resumption).</summary>
    public SslServerAuthenticationOptions Options { get; } = options;

    public IReadOnlyList<string> DnsNames { get; } = dnsNames;
}

/// <summary>
/// Turns certificate PEMs into ready server options, once per certificate version: a rotation
/// (new fingerprint) loads the new one, an unchanged certificate is reused across snapshots.
/// </summary>
public sealed class CertificateLoader
{
    private readonly ConcurrentDictionary<(string Name, string Fingerprint), LoadedCertificate> _loaded = new();

    /// <summary>Every certificate version loaded now.</summary>
    public IReadOnlyCollection<LoadedCertificate> Loaded => _loaded.Values.ToList();

    public LoadedCertificate Load(CertificateConfig config)
    {
        var key = (config.Name, config.Fingerprint);
        if (_loaded.TryGetValue(key, out var loaded))
        {
            return loaded;
        }
        loaded = Create(config);
        _loaded[key] = loaded;
        return loaded;
    }

    /// <summary>Forgets versions no longer in the snapshot (open connections keep theirs).</summary>
    public void Retain(IEnumerable<CertificateConfig> current)
    {
        var keep = current.Select(c => (c.Name, c.Fingerprint)).ToHashSet();
        foreach (var key in _loaded.Keys.Where(k => !keep.Contains(k)).ToList())
        {
            _loaded.TryRemove(key, out _);
        }
    }

    private static LoadedCertificate Create(CertificateConfig config)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(config.CertificatePem);
        if (chain.Count == 0)
        {
            throw new InvalidOperationException($"certificate '{config.Name}' holds no certificate");
        }

        using var ephemeral = X509Certificate2.CreateFromPem(config.CertificatePem, config.PrivateKeyPem);
        // Keys created from PEM are ephemeral; SslStream on Linux needs them through PKCS#12.
        var leaf = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(leaf, intermediates, offline: true),
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            ClientCertificateRequired = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };

        var names = new List<string>();
        foreach (var extension in leaf.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                names.AddRange(san.EnumerateDnsNames().Select(n => n.ToLowerInvariant()));
            }
        }
        if (names.Count == 0 && leaf.GetNameInfo(X509NameType.DnsName, forIssuer: false) is { Length: > 0 } cn)
        {
            names.Add(cn.ToLowerInvariant());
        }
        return new LoadedCertificate(config.Name, config.Fingerprint, leaf, options, names);
    }
}
