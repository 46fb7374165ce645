using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// Validates the control plane's certificate (against the CA in --ca-file or the one whose
/// fingerprint --ca-fingerprint gives, else the system's trust store) and remembers why it
/// refused one: the error that reaches the caller only says "rejected by the callback", which
/// cannot tell an untrusted CA from a wrong host name.
/// </summary>
internal sealed class ServerCertificateCheck(X509Certificate2Collection? pinnedRoots, string? caFile, string? caFingerprint, Uri server)
{
    private static readonly TimeSpan CaFetchTimeout = TimeSpan.FromSeconds(10);

    // The CA fetched and matched against --ca-fingerprint, once per process.
    private X509Certificate2Collection? _fetchedRoots;

    public CertificateRejection? Rejection { get; private set; }

    /// <summary>The check for an https server; null for http, whose --ca-file is neither needed nor read.</summary>
    public static ServerCertificateCheck? For(ConnectionSettings settings)
    {
        if (settings.Server.Scheme != Uri.UriSchemeHttps)
        {
            return null;
        }
        return new ServerCertificateCheck(settings.CaFile is null ? null : CaPinning.LoadRoots(settings.CaFile), settings.CaFile, settings.CaFingerprint, settings.Server);
    }

    public bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Rejection = Check(certificate, chain, errors);
        return Rejection is null;
    }

    private CertificateRejection? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return new CertificateRejection(CertificateProblem.NoCertificate, "the server presented no certificate", caFile);
        }
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return new CertificateRejection(CertificateProblem.NameMismatch, $"it was not issued for this host ({Subject(certificate)})", caFile);
        }
        if (caFingerprint is not null)
        {
            try
            {
                // The resolver checked the format. Fetched here, at the first handshake, so that a
                // failure is reported like any other refused certificate; blocking is fine in a CLI.
                _fetchedRoots ??= [CaTrust.FetchCaAsync(server, CaTrust.ParseFingerprint(caFingerprint)!, CaFetchTimeout).GetAwaiter().GetResult()];
            }
            catch (CaDiscoveryException ex)
            {
                return new CertificateRejection(CertificateProblem.Untrusted, ex.Message, null, caFingerprint);
            }
            return CaTrust.Validate(certificate, chain, errors, _fetchedRoots)
                ? null
                : new CertificateRejection(CertificateProblem.Untrusted, $"it does not chain to the CA of SHA-256 {caFingerprint} ({Subject(certificate)}, issuer {certificate.Issuer})", null, caFingerprint);
        }
        if (pinnedRoots is not null)
        {
            return CaTrust.Validate(certificate, chain, errors, pinnedRoots)
                ? null
                : new CertificateRejection(CertificateProblem.Untrusted, $"it does not chain to the CA in {caFile} ({Subject(certificate)}, issuer {certificate.Issuer})", caFile);
        }
        if (errors == SslPolicyErrors.None)
        {
            return null;
        }
        var statuses = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToList() ?? [];
        var detail = statuses.Count > 0 ? string.Join(", ", statuses) : errors.ToString();
        return new CertificateRejection(CertificateProblem.Untrusted, $"it is not signed by a CA this machine trusts ({detail}; issuer {certificate.Issuer})", null);
    }

    private static string Subject(X509Certificate certificate) => $"subject {certificate.Subject}";
}

internal enum CertificateProblem
{
    NoCertificate,
    NameMismatch,
    Untrusted,
}

/// <summary>Why the server's certificate was refused, and the CA file or fingerprint in use (both null: system trust).</summary>
internal sealed record CertificateRejection(CertificateProblem Problem, string Reason, string? CaFile, string? CaFingerprint = null);
