using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;

namespace LoadBalancer.ControlPlane.Dashboard;

/// <summary>One file of the page, read once from the assembly's resources.</summary>
internal sealed record DashboardAsset(string Name, string ContentType, byte[] Content, string ETag);

/// <summary>
/// The files under Dashboard/Assets, embedded in the assembly (see ControlPlane.csproj) so
/// the single lb-controlplane executable serves them; only these names are served.
/// </summary>
internal sealed class DashboardAssets
{
    private const string Prefix = "Dashboard/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private readonly FrozenDictionary<string, DashboardAsset> _assets;

    private DashboardAssets(FrozenDictionary<string, DashboardAsset> assets)
    {
        _assets = assets;
    }

    public IEnumerable<string> Names => _assets.Keys;

    public DashboardAsset? Find(string? name) => name is not null && _assets.TryGetValue(name, out var asset) ? asset : null;

    public static DashboardAssets Load()
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var assets = new Dictionary<string, DashboardAsset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType))
            {
                throw new InvalidOperationException($"dashboard asset {name} has no known content type");
            }
            var content = Read(assembly, resource);
            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 12)) + "\"";
            assets[name] = new DashboardAsset(name, contentType, content, etag);
        }
        if (!assets.ContainsKey("index.html"))
        {
            throw new InvalidOperationException("the dashboard's index.html is not embedded in " + assembly.GetName().Name);
        }
        return new DashboardAssets(assets.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static byte[] Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
