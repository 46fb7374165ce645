using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Durability;

/// <summary>
/// A real power cut, where kill -9 is not one: kill -9 leaves the page cache, so a commit that was
/// never fsynced still survives it. Here the control plane's data folder is on an ext4 filesystem on
/// a loop device; while several writers have writes in flight it is killed and the device's
/// contents copied at once, without sync or unmount (what the disk held when the power went). The
/// copy is fsck'ed and mounted, a control plane started on it, and every acknowledged write must be
/// there. Needs root and loop devices (CI runs as root); when they are refused, the test fails with
/// the reason.
/// </summary>
public sealed class PowerLossTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PowerCut_DuringConcurrentWrites_EveryAcknowledgedWriteIsOnTheDisk()
    {
        const int writers = 8;
        // Disposed in reverse order: the control planes die before their filesystems are unmounted.
        await using var disk = await LoopFilesystem.CreateAsync(megabytes: 128);
        await using var cluster = await TestCluster.StartAsync(Path.Combine(disk.MountPoint, "cp-data"));
        IReadOnlyCollection<string> acknowledged;
        var cutAfter = 150 + Random.Shared.Next(150);
        string image;
        try
        {
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Pool("writes"))).ExitCode);
            // The state before the load (schema, CA, tokens, the pool) on the disk: what is under
            // test is the writes acknowledged from here on.
            await disk.SyncAsync();
            var cut = "";
            acknowledged = await ConcurrentWriters.RunUntilCutAsync(cluster, writers, cutAfter, () =>
            {
                cluster.ControlPlane.Kill();
                cut = disk.CutPower();
                return Task.CompletedTask;
            });
            image = cut;
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }

        await using var afterPowerCut = await LoopFilesystem.MountImageAsync(image);
        await using var restarted = await TestCluster.StartAsync(Path.Combine(afterPowerCut.MountPoint, "cp-data"));
        try
        {
            var present = (await restarted.Management.ListBackendsAsync(new ListRequest())).Items.Select(b => b.Metadata.Name).ToHashSet();
            var missing = acknowledged.Where(n => !present.Contains(n)).ToList();
            output.WriteLine($"{writers} writers: acknowledged {acknowledged.Count}, on the disk after the power cut {acknowledged.Count - missing.Count}, cut after {cutAfter}");
            Assert.True(acknowledged.Count >= cutAfter, $"only {acknowledged.Count} writes were acknowledged before the power cut, {cutAfter} were expected");
            Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged writes missing after the power cut: {string.Join(", ", missing.Take(20))}");
        }
        catch
        {
            output.WriteLine(restarted.Diagnostics());
            throw;
        }
    }
}
