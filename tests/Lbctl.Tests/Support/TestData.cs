namespace LoadBalancer.Cli.Tests.Support;

internal static class TestData
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "TestData");

    public static string PathOf(string name) => Path.Combine(Directory, name);
}

/// <summary>A directory under the temp folder, removed with the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lbctl-tests-" + Guid.NewGuid().ToString("N"));

    public TempDirectory() => System.IO.Directory.CreateDirectory(Path);

    public string File(string name, string content)
    {
        var path = System.IO.Path.Combine(Path, name);
        System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder must not fail a test.
        }
    }
}
