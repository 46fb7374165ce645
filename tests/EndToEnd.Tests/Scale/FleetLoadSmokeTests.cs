using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Scale;

/// <summary>
/// Issue 19: the fan-out load tool in its small CI mode against a real control plane. Only
/// correctness is asserted (the tool exits 0 when every stream received and ACKed every revision
/// with the hash of its payload, and the control plane's status agrees); its timings are printed,
/// never checked, since CI machines vary.
/// </summary>
public sealed class FleetLoadSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FleetLoad_TwentyStreamsThreeChanges_EveryStreamAcksEveryRevision()
    {
        await using var cluster = await TestCluster.StartAsync();

        var result = await Commands.RunAsync(Binaries.FleetLoad,
        [
            "--control-plane", cluster.ControlPlaneUrl, "--ca-file", cluster.CaFile, "--token-file", cluster.AdminTokenFile,
            "--pid", cluster.ControlPlane.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Streams on several connections, health summaries sent during the run, no idle measurement.
            "--streams", "20", "--changes", "3", "--per-connection", "8", "--health-interval", "0.2", "--idle", "0",
        ], timeout: TimeSpan.FromMinutes(2));

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("PASS", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("status: 20/20 in sync", result.Stdout, StringComparison.Ordinal);
    }
}
