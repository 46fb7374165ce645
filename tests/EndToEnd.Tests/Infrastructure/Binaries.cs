namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>Finds the apphosts built next to this test assembly (artifacts/bin/PROJECT/CONFIG/).</summary>
public static class Binaries
{
    private static readonly string TestDirectory = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);

    public static string RepositoryRoot { get; } = FindRoot();

    public static string ControlPlane => Find("ControlPlane", "lb-controlplane");

    public static string Agent => Find("Agent", "lb-agent");

    public static string Lbctl => Find("Lbctl", "lbctl");

    public static string SampleBackend => Find("SampleBackend", "lb-sample-backend");

    public static string FleetLoad => Find("FleetLoad", "lb-fleetload");

    private static string Find(string project, string apphost)
    {
        // artifacts/bin/EndToEnd.Tests/debug -> artifacts/bin/<project>/debug
        var configuration = Path.GetFileName(TestDirectory);
        var binRoot = Path.GetDirectoryName(Path.GetDirectoryName(TestDirectory))!;
        var path = Path.Combine(binRoot, project, configuration, apphost);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{apphost} is not built at {path}; build the solution first", path);
        }
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ControlPlane.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
    }
}
