using System.Net.Security;
using System.Security.Authentication;

namespace LoadBalancer.Agent.Tls;

/// <summary>
/// A listener's TLS policy, after Mozilla's server-side profiles: <c>modern</c> is TLS 1.3 only;
/// <c>intermediate</c> (the default) adds TLS 1.2 with forward-secret AEAD ciphers only, so no CBC
/// suite (LUCKY13) and no static RSA key exchange is offered, which is what scanners grade.
/// </summary>
public static class TlsPolicies
{
    public const string Modern = "modern";
    public const string Intermediate = "intermediate";

    // TLS 1.3 suites are all AEAD; listed so that a cipher policy does not turn TLS 1.3 off.
    private static readonly TlsCipherSuite[] IntermediateSuites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    /// <summary>A certificate's handshake options under <paramref name="policy"/>.</summary>
    public static TlsPolicyOptions Apply(string policy, SslServerAuthenticationOptions certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        // A client offering TLS 1.3 gets TLS 1.3, whose suites are all AEAD: no cipher list is needed,
        // and without one SslStream keeps its OpenSSL context (and session tickets) per certificate.
        // With a cipher list it builds a new context for every handshake, which cost new TLS
        // connections more than half their rate.
        var tls13 = Copy(certificate, SslProtocols.Tls13);
        if (policy == Modern)
        {
            return new TlsPolicyOptions(tls13, tls13);
        }
        var tls12 = Copy(certificate, SslProtocols.Tls12 | SslProtocols.Tls13);
        // Cipher lists can be set on Linux (OpenSSL) only; elsewhere the system's defaults stand.
        if (OperatingSystem.IsLinux())
        {
            tls12.CipherSuitesPolicy = new CipherSuitesPolicy(IntermediateSuites);
        }
        return new TlsPolicyOptions(tls13, tls12);
    }

    private static SslServerAuthenticationOptions Copy(SslServerAuthenticationOptions certificate, SslProtocols protocols) => new()
    {
        ServerCertificateContext = certificate.ServerCertificateContext,
        ApplicationProtocols = certificate.ApplicationProtocols,
        ClientCertificateRequired = certificate.ClientCertificateRequired,
        CertificateRevocationCheckMode = certificate.CertificateRevocationCheckMode,
        EnabledSslProtocols = protocols,
    };
}

/// <summary>The handshake options of one certificate under a policy, chosen by what the client offers.</summary>
/// <param name="Tls13Client">For a client that offers TLS 1.3 (nearly all).</param>
/// <param name="OlderClient">For a client that offers TLS 1.2 at most.</param>
public sealed record TlsPolicyOptions(SslServerAuthenticationOptions Tls13Client, SslServerAuthenticationOptions OlderClient)
{
    public SslServerAuthenticationOptions For(bool offersTls13) => offersTls13 ? Tls13Client : OlderClient;
}
