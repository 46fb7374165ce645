using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Config;

public class ConfigCommandTests
{
    [Fact]
    public async Task View_WithoutConfig_ShowsDefaultsAndWritesNothing()
    {
        using var cli = new CliHarness();

        var (exitCode, output, _) = await cli.RunAsync("--server", "http://cp:1", "config", "view");

        Assert.Equal(0, exitCode);
        Assert.Contains("(not written yet)", output, StringComparison.Ordinal);
        Assert.Contains("server:       http://cp:1", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Join(cli.Home.Path, ".config")));
    }

    [Fact]
    public async Task SetServer_ThenSetTokenFile_UpdatesTheFile()
    {
        using var cli = new CliHarness();

        Assert.Equal(0, (await cli.RunAsync("config", "set-server", "https://cp.example:7400")).ExitCode);
        Assert.Equal(0, (await cli.RunAsync("config", "set-token-file", "admin.token")).ExitCode);

        var config = ClientConfig.Load(Path.Join(cli.Home.Path, ".config", "lbctl", "config.yaml"));
        Assert.Equal(new ClientConfig("https://cp.example:7400", Path.Join(cli.Home.Path, "admin.token"), null), config);
    }

    [Fact]
    public async Task SetCaFingerprint_ReplacesTheCaFile_AndViewShowsIt_AndABadOneIsAUsageError()
    {
        using var cli = new CliHarness();
        const string fingerprint = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";
        var path = Path.Join(cli.Home.Path, ".config", "lbctl", "config.yaml");

        Assert.Equal(0, (await cli.RunAsync("config", "set-ca-file", "ca.crt")).ExitCode);
        Assert.Equal(0, (await cli.RunAsync("config", "set-ca-fingerprint", fingerprint)).ExitCode);
        Assert.Equal(new ClientConfig(null, null, null, fingerprint), ClientConfig.Load(path));
        var (_, view, _) = await cli.RunAsync("config", "view");
        Assert.Contains($"caFingerprint: {fingerprint}", view, StringComparison.Ordinal);

        var (exitCode, _, error) = await cli.RunAsync("config", "set-ca-fingerprint", "ab:cd");
        Assert.Equal(2, exitCode);
        Assert.Contains("invalid CA fingerprint \"ab:cd\"", error, StringComparison.Ordinal);
        Assert.Equal(fingerprint, ClientConfig.Load(path)!.CaFingerprint);
    }

    [Fact]
    public async Task SetServer_InvalidUrl_IsUsageError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("config", "set-server", "cp.example");

        Assert.Equal(2, exitCode);
        Assert.Contains("invalid server URL", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FirstCallWithServerFlag_WritesConfigSoTheNextCallNeedsNoFlag()
    {
        using var cli = new CliHarness();

        // Nothing listens on port 1: the call fails, but the server is remembered.
        var first = await cli.RunAsync("--server", "http://127.0.0.1:1", "get", "pools");
        var second = await cli.RunAsync("get", "pools");

        Assert.Equal(1, first.ExitCode);
        Assert.Contains("http://127.0.0.1:1", second.Err, StringComparison.Ordinal);
        var path = Path.Join(cli.Home.Path, ".config", "lbctl", "config.yaml");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }
}
