using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.Common.Tls;

/// <summary>
/// How lbctl and the agents trust the control plane's certificate: it must chain to the control
/// plane's own CA, given as a file (--ca-file) or by the SHA-256 fingerprint lb-controlplane
/// prints at start (--ca-fingerprint); then the CA is fetched from the control plane and kept
/// only if its hash is that fingerprint. lbctl and the agent both use this one copy.
/// </summary>
public static class CaTrust
{
    /// <summary>What a fingerprint must look like, for error messages.</summary>
    public const string FingerprintRule = "expected the SHA-256 lb-controlplane prints at start (64 hex digits, colons allowed)";

    /// <summary>"AB:CD:..." or 64 hex digits, any case; null when it is not a SHA-256 fingerprint.</summary>
    public static byte[]? ParseFingerprint(string text)
    {
        var hex = text.Trim().Replace(":", "", StringComparison.Ordinal);
        if (hex.Length != 2 * SHA256.HashSizeInBytes)
        {
            return null;
        }
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Where the control plane serves its CA certificate to anyone: it is public, and clients check it by its hash.</summary>
    public const string CaPath = "/ca.crt";

    private const int MaxCaBytes = 64 * 1024;

    /// <summary>
    /// Downloads the control plane's CA certificate from <see cref="CaPath"/> without trusting the
    /// connection, and accepts it only if its SHA-256 is <paramref name="fingerprint"/> (as
    /// kubeadm's discovery hash does). A self-signed root is never part of the TLS handshake,
    /// so the CA cannot be found there.
    /// </summary>
    /// <exception cref="CaDiscoveryException">The CA could not be fetched or is not the pinned one.</exception>
    public static async Task<X509Certificate2> FetchCaAsync(Uri server, byte[] fingerprint, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var url = new Uri(server, CaPath);
        string pem;
        try
        {
            // Not trusted on purpose: what comes back is accepted by its hash alone. The whole
            // answer is read within the timeout and refused past MaxCaBytes, so a hostile or
            // broken server can neither stall nor flood the caller.
            using var handler = new SocketsHttpHandler { ConnectTimeout = timeout };
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
            using var client = new HttpClient(handler) { Timeout = timeout, MaxResponseContentBufferSize = MaxCaBytes };
            using var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new CaDiscoveryException($"cannot fetch the CA certificate from {url}: HTTP {(int)response.StatusCode}");
            }
            pem = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        // The caller's own cancellation is passed on as it is; a timeout is a failed fetch.
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new CaDiscoveryException($"cannot fetch the CA certificate from {url}: {ex.Message}", ex);
        }

        X509Certificate2 ca;
        try
        {
            ca = X509Certificate2.CreateFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new CaDiscoveryException($"{url} did not serve a PEM certificate ({ex.Message})", ex);
        }
        if (!HasFingerprint(ca, fingerprint))
        {
            var served = Format(ca.GetCertHash(HashAlgorithmName.SHA256));
            ca.Dispose();
            throw new CaDiscoveryException($"the CA certificate served at {url} has SHA-256 {served}, not the pinned {Format(fingerprint)}");
        }
        return ca;
    }

    /// <summary>As lb-controlplane prints it: colon-separated upper-case hex.</summary>
    public static string Format(byte[] fingerprint) => string.Join(':', fingerprint.Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>
    /// Whether the server's <paramref name="certificate"/> is for this host and chains to one of
    /// <paramref name="roots"/>: only the trust anchor is replaced, the name is still checked.
    /// </summary>
    public static bool Validate(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (certificate is null
            || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)
            || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        // A private CA publishes no revocation lists.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            // Intermediates the server sent along.
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private static bool HasFingerprint(X509Certificate2 certificate, byte[] fingerprint) =>
        certificate.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(fingerprint);
}

/// <summary>The control plane's CA could not be fetched, or is not the one pinned by fingerprint.</summary>
public sealed class CaDiscoveryException(string message, Exception? inner = null) : Exception(message, inner);
