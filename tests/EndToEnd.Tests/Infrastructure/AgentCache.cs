using LoadBalancer.Agent.Cache;
using LoadBalancer.Api.V1;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An agent's snapshot cache as a test reads it: the sealed file in the cache folder, opened with
/// the key file the agent keeps beside that folder by default (CACHE.key).
/// </summary>
internal static class AgentCache
{
    public static string SealedFile(string cacheDirectory) => Path.Combine(cacheDirectory, "snapshot.sealed");

    public static string KeyFile(string cacheDirectory) => Path.TrimEndingDirectorySeparator(cacheDirectory) + ".key";

    public static Snapshot Read(string cacheDirectory)
    {
        var key = Convert.FromBase64String(File.ReadAllText(KeyFile(cacheDirectory)).Trim());
        return Snapshot.Parser.ParseFrom(CacheSeal.Open(File.ReadAllBytes(SealedFile(cacheDirectory)), key));
    }

    /// <summary>The cached snapshot, or null while there is none that the key file opens (to wait on).</summary>
    public static Snapshot? TryRead(string cacheDirectory)
    {
        try
        {
            return Read(cacheDirectory);
        }
        catch (Exception ex) when (ex is IOException or CacheSealException)
        {
            return null;
        }
    }
}
