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

    /// <summary>A copy of a certificate's handshake options restricted to <paramref name="policy"/>.</summary>
    public static SslServerAuthenticationOptions Apply(string policy, SslServerAuthenticationOptions certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate.ServerCertificateContext,
            ApplicationProtocols = certificate.ApplicationProtocols,
            ClientCertificateRequired = certificate.ClientCertificateRequired,
            CertificateRevocationCheckMode = certificate.CertificateRevocationCheckMode,
            EnabledSslProtocols = policy == Modern ? SslProtocols.Tls13 : SslProtocols.Tls12 | SslProtocols.Tls13,
        };
        // Cipher lists can be set on Linux (OpenSSL) only; elsewhere the system's defaults stand.
        if (policy != Modern && OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = new CipherSuitesPolicy(IntermediateSuites);
        }
        return options;
    }
}
