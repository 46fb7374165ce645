using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LoadBalancer.ControlPlane.Security;

/// <summary>
/// The control plane's own PKI in DATA/tls: a CA made on first start (ca.crt is what clients
/// pin; ca.key never leaves the folder) and a serving certificate it signs for localhost,
/// 127.0.0.1, ::1 and every --san. The serving certificate is re-issued when it comes within
/// 30 days of expiry or no longer covers the names asked for; the CA stays, so pins hold.
/// </summary>
public sealed class ControlPlaneTls
{
    public const string FolderName = "tls";
    private static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);
    private static readonly TimeSpan ServerValidity = TimeSpan.FromDays(397);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    private ControlPlaneTls(X509Certificate2 server, X509Certificate2 ca, string caPath, bool issued)
    {
        ServerCertificate = server;
        CaCertificate = ca;
        CaPath = caPath;
        Issued = issued;
    }

    public X509Certificate2 ServerCertificate { get; }

    public X509Certificate2 CaCertificate { get; }

    /// <summary>ca.crt: hand it to agents and lbctl (--ca-file).</summary>
    public string CaPath { get; }

    /// <summary>SHA-256 of the CA certificate, colon-separated hex, as printed at start.</summary>
    public string CaFingerprint => Convert.ToHexString(CaCertificate.GetCertHash(HashAlgorithmName.SHA256)).Chunk(2).Select(c => new string(c)).Aggregate((a, b) => a + ":" + b);

    /// <summary>True when this start made a new serving certificate.</summary>
    public bool Issued { get; }

    public static ControlPlaneTls LoadOrCreate(string dataDir, IReadOnlyList<string> extraNames, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(extraNames);
        var folder = Path.Combine(dataDir, FolderName);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var caCertPath = Path.Combine(folder, "ca.crt");
        var caKeyPath = Path.Combine(folder, "ca.key");
        var serverCertPath = Path.Combine(folder, "server.crt");
        var serverKeyPath = Path.Combine(folder, "server.key");

        X509Certificate2 ca;
        if (File.Exists(caCertPath) && File.Exists(caKeyPath))
        {
            ca = Load(caCertPath, caKeyPath, "CA");
        }
        else
        {
            ca = CreateCa(now);
            OwnerOnlyFile.WriteAtomically(caKeyPath, ExportKeyPem(ca));
            File.WriteAllText(caCertPath, ca.ExportCertificatePem() + "\n");
        }

        var names = new SortedSet<string>(["localhost", "127.0.0.1", "::1"], StringComparer.OrdinalIgnoreCase);
        foreach (var name in extraNames)
        {
            // IP addresses in canonical form, as the certificate reports them (fd00:0:0::1 is fd00::1).
            var trimmed = name.Trim().ToLowerInvariant();
            names.Add(IPAddress.TryParse(trimmed, out var address) ? address.ToString() : trimmed);
        }

        if (File.Exists(serverCertPath) && File.Exists(serverKeyPath))
        {
            var existing = Load(serverCertPath, serverKeyPath, "serving");
            if (existing.NotAfter.ToUniversalTime() - now.UtcDateTime > RenewBefore && Covers(existing, names) && existing.Issuer == ca.Subject)
            {
                return new ControlPlaneTls(existing, ca, caCertPath, issued: false);
            }
            existing.Dispose();
        }
        var server = CreateServer(ca, names, now);
        OwnerOnlyFile.WriteAtomically(serverKeyPath, ExportKeyPem(server));
        File.WriteAllText(serverCertPath, server.ExportCertificatePem() + "\n");
        return new ControlPlaneTls(server, ca, caCertPath, issued: true);
    }

    /// <summary>Checks a --san value: a DNS name or an IP address.</summary>
    public static bool IsValidName(string name) =>
        IPAddress.TryParse(name, out _) || Validation.Names.IsHostname(name.ToLowerInvariant());

    private static X509Certificate2 Load(string certPath, string keyPath, string what)
    {
        try
        {
            using var withKey = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            // Kestrel on Linux needs the key in a form SslStream can use; a PKCS#12 round trip gives that.
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or FormatException)
        {
            // ArgumentException: a certificate and key that each parse but do not belong together.
            throw new InvalidOperationException($"the control plane's {what} certificate in {Path.GetDirectoryName(certPath)} cannot be read ({ex.Message}); move the folder away to make new ones (clients must then pin the new ca.crt)", ex);
        }
    }

    private static X509Certificate2 CreateCa(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=lb-controlplane CA {Guid.NewGuid().ToString("N")[..8]}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now + CaValidity);
        return X509CertificateLoader.LoadPkcs12(ca.Export(X509ContentType.Pkcs12), null);
    }

    private static X509Certificate2 CreateServer(X509Certificate2 ca, IEnumerable<string> names, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=lb-controlplane", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        var notAfter = now + ServerValidity;
        if (notAfter > ca.NotAfter)
        {
            notAfter = ca.NotAfter.ToUniversalTime();
        }
        using var signed = request.Create(ca, now.AddMinutes(-5), notAfter, serial);
        using var withKey = signed.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private static bool Covers(X509Certificate2 certificate, IEnumerable<string> names)
    {
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var extension in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            present.UnionWith(extension.EnumerateDnsNames());
            present.UnionWith(extension.EnumerateIPAddresses().Select(a => a.ToString()));
        }
        return names.All(present.Contains);
    }

    private static string ExportKeyPem(X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("certificate has no ECDSA private key");
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }
}
