using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Listeners;

namespace LoadBalancer.Agent.Hosting;

/// <summary>
/// What <c>/config</c> shows: the whole applied configuration (every listener, route and pool
/// setting, certificate metadata) so an operator can see what the agent acts on. Secrets never
/// appear: private keys and the session cookie's HMAC key are shown as "&lt;redacted&gt;", so
/// one can still see that they are set.
/// </summary>
internal static class AdminConfigView
{
    public const string Redacted = "<redacted>";

    public static object Render(
        TierConfig config,
        IReadOnlyList<ListenerOutcome> outcomes,
        IReadOnlyList<(string Listener, string Certificate, string Fingerprint)> served) => new
        {
            config.Revision,
            config.Hash,
            config.Tier,
            listeners = config.Listeners.Select(l => new
            {
                l.Name,
                l.Port,
                l.Protocol,
                certificates = l.Certificates.ToArray(),
                routes = l.Routes.Select(r => new { hosts = r.Hosts.ToArray(), r.PathPrefix, r.Pool }),
                l.Pool,
                trustedProxies = l.TrustedProxies.ToArray(),
                outcome = outcomes.FirstOrDefault(o => o.Name == l.Name),
            }),
            pools = config.Pools.Select(p => new
            {
                p.Name,
                p.Protocol,
                p.Algorithm,
                p.HashOn,
                healthCheck = p.HealthCheck is { } h ? new
                {
                    h.Type,
                    h.Path,
                    interval = Duration(h.Interval),
                    timeout = Duration(h.Timeout),
                    h.HealthyThreshold,
                    h.UnhealthyThreshold,
                    expectedStatus = h.ExpectedStatus.Select(s => s.From == s.To ? Number(s.From) : $"{Number(s.From)}-{Number(s.To)}").ToArray(),
                    h.Port,
                } : null,
                passiveHealth = p.PassiveHealth is { } ph ? new
                {
                    ph.ConsecutiveFailures,
                    ejectionTime = Duration(ph.EjectionTime),
                    ph.KeepEjectionOnActivePass,
                } : null,
                sessionPersistence = p.SessionPersistence is { } sp ? new
                {
                    sp.Type,
                    sp.CookieName,
                    sp.HeaderName,
                    ttl = Duration(sp.Ttl),
                    hmacKey = sp.HmacKey.Count > 0 ? Redacted : "",
                } : null,
                drainTimeout = Duration(p.DrainTimeout),
                p.Retries,
                connectTimeout = Duration(p.ConnectTimeout),
                requestTimeout = Duration(p.RequestTimeout),
                idleTimeout = Duration(p.IdleTimeout),
                p.MaxConnectionsPerBackend,
                backendTls = p.BackendTls is { } tls ? new
                {
                    // The CA is public, but a PEM is unreadable here: who it is says enough.
                    ca = tls.CaPem.Length == 0 ? "" : Metadata(tls.CaPem)?.Subject ?? "<unreadable>",
                    tls.InsecureSkipVerify,
                    tls.ServerName,
                } : null,
                backends = p.Backends.Select(b => new { b.Name, b.Host, b.Port, b.Weight, b.State }),
            }),
            certificates = config.Certificates.Select(c =>
            {
                var metadata = Metadata(c.CertificatePem);
                return new
                {
                    c.Name,
                    c.Fingerprint,
                    subject = metadata?.Subject,
                    dnsNames = metadata?.DnsNames,
                    notBefore = metadata?.NotBefore,
                    notAfter = metadata?.NotAfter,
                    privateKey = c.PrivateKeyPem.Length > 0 ? Redacted : "",
                };
            }),
            served = served.Select(s => new { listener = s.Listener, certificate = s.Certificate, fingerprint = s.Fingerprint }),
        };

    private sealed record CertificateMetadata(string Subject, string[] DnsNames, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

    /// <summary>The leaf's (first PEM block's) subject, names and validity; null if it cannot be read.</summary>
    private static CertificateMetadata? Metadata(string pem)
    {
        try
        {
            using var certificate = X509Certificate2.CreateFromPem(pem);
            var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToArray();
            return new CertificateMetadata(certificate.Subject, names, new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    /// <summary>As manifests write durations: "30s", "5m", "1h", "1500ms".</summary>
    internal static string Duration(TimeSpan value) => value switch
    {
        { Ticks: 0 } => "0s",
        _ when value.Ticks % TimeSpan.TicksPerHour == 0 => $"{Number((long)value.TotalHours)}h",
        _ when value.Ticks % TimeSpan.TicksPerMinute == 0 => $"{Number((long)value.TotalMinutes)}m",
        _ when value.Ticks % TimeSpan.TicksPerSecond == 0 => $"{Number((long)value.TotalSeconds)}s",
        _ => $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms",
    };

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
