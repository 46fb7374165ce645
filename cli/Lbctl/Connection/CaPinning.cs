using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// Reads the CA of --ca-file (the control plane creates its own CA on first start); the
/// server's certificate must chain to it (<see cref="LoadBalancer.Common.Tls.CaTrust"/>).
/// </summary>
internal static class CaPinning
{
    public static X509Certificate2Collection LoadRoots(string caFile)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(caFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new CliException($"cannot read CA file {caFile}: {ex.Message}", ex);
        }
        return roots.Count > 0 ? roots : throw new CliException($"CA file {caFile} holds no PEM certificate");
    }
}
