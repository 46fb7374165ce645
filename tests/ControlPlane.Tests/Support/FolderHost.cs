using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Starts the real <see cref="ControlPlaneHost"/> on a data folder the test owns, so that it can
/// be stopped, tampered with (keys, files) and started again on the same folder; <see cref="ApiServer"/>
/// deletes its folder when disposed. Loopback ports, TLS on, no rate limit.
/// </summary>
internal static class FolderHost
{
    public static NewFolder CreateFolder() => new(Path.Combine(Path.GetTempPath(), "lb-folder-tests-" + Guid.NewGuid().ToString("N")[..10]));

    public static Task<ControlPlaneHost> StartAsync(string dataDir, Action<IServiceCollection>? configureServices = null)
    {
        var options = new CommandLineOptions(dataDir, new Uri($"https://127.0.0.1:{FreePort()}"), AdminUri: new Uri($"http://127.0.0.1:{FreePort()}"))
        {
            RateLimit = 0,
        };
        return ControlPlaneHost.StartAsync(options, configureServices);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A temp data folder, deleted on dispose.</summary>
    internal sealed class NewFolder(string path) : IDisposable
    {
        public string Path { get; } = path;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp folder left behind does not affect the result.
            }
        }
    }
}
