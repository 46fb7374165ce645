using System.Reflection;
using System.Text.RegularExpressions;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Observability;

/// <summary>
/// --version on the daemons and lbctl version against a real control plane: each names the
/// commit it was built from, the one this test assembly was built from too.
/// </summary>
public sealed partial class VersionTests
{
    [Theory]
    [InlineData("lb-agent")]
    [InlineData("lb-controlplane")]
    [InlineData("lbctl")]
    public async Task Executable_Version_PrintsVersionAndCommit_AndStartsNothing(string program)
    {
        var path = program switch
        {
            "lb-agent" => Binaries.Agent,
            "lb-controlplane" => Binaries.ControlPlane,
            _ => Binaries.Lbctl,
        };

        var result = await Commands.RunAsync(path, ["--version"], timeout: TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.ToString());
        var match = VersionLine().Match(result.Stdout.Trim());
        Assert.True(match.Success, result.ToString());
        Assert.Equal(program, match.Groups["program"].Value);
        Assert.Equal(ExpectedCommit(), match.Groups["commit"].Value);
    }

    [Fact]
    public async Task Lbctl_Version_PrintsTheClientsAndTheServersBuild()
    {
        await using var cluster = await TestCluster.StartAsync();

        var result = await cluster.LbctlAsync("version");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        var client = VersionLine().Match(lines[0].Replace("Client: ", "", StringComparison.Ordinal));
        var at = $" at {cluster.ControlPlaneUrl}";
        Assert.EndsWith(at, lines[1], StringComparison.Ordinal);
        var server = VersionLine().Match(lines[1].Replace("Server: ", "", StringComparison.Ordinal)[..^at.Length]);
        Assert.True(client.Success && server.Success, result.ToString());
        Assert.Equal("lbctl", client.Groups["program"].Value);
        Assert.Equal("lb-controlplane", server.Groups["program"].Value);
        Assert.Equal(ExpectedCommit(), client.Groups["commit"].Value);
        Assert.Equal(ExpectedCommit(), server.Groups["commit"].Value);
    }

    [Fact]
    public async Task Lbctl_Version_WithABadToken_PrintsTheClientThenTheRefusal()
    {
        await using var cluster = await TestCluster.StartAsync();
        var empty = Path.Combine(cluster.Root, "empty.token");
        await File.WriteAllTextAsync(empty, "lbt_t-000000000000_not-a-real-secret");

        var result = await cluster.LbctlAsync("--token-file", empty, "version");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.StartsWith("Client: lbctl ", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Server:", result.Stdout, StringComparison.Ordinal);
        Assert.NotEqual("", result.Stderr.Trim());
    }

    [Fact]
    public async Task Lbctl_VersionClient_NeedsNoServer()
    {
        var result = await Commands.RunAsync(Binaries.Lbctl, ["--server", "https://127.0.0.1:1", "version", "--client"],
            environment: new Dictionary<string, string> { ["LBCTL_CONFIG"] = Path.Combine(Path.GetTempPath(), $"lbctl-{Guid.NewGuid():N}.yaml") });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^Client: lbctl \S+ \(commit ([0-9a-f]{12}|unknown)\)$", result.Stdout.Trim());
    }

    /// <summary>The commit this test assembly was built from: the executables were built with it.</summary>
    private static string ExpectedCommit()
    {
        var informational = typeof(VersionTests).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? "unknown" : informational[(plus + 1)..][..12];
    }

    [GeneratedRegex(@"^(?<program>\S+) (?<version>\S+) \(commit (?<commit>[0-9a-f]{12}|unknown)\)$")]
    private static partial Regex VersionLine();
}
