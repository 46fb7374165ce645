using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Durability;

/// <summary>
/// kill -9 of the control plane while several writers have writes in flight at once: every
/// write acknowledged before the kill is there after the restart. (One sequential writer has one
/// write in flight; several exercise the commit queue.)
/// </summary>
public sealed class ConcurrentKillTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KillDashNine_DuringConcurrentWrites_EveryAcknowledgedWriteSurvives()
    {
        const int writers = 8;
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Pool("writes"))).ExitCode);
            var killAfter = 200 + Random.Shared.Next(200);
            var acknowledged = await ConcurrentWriters.RunUntilCutAsync(cluster, writers, killAfter, () =>
            {
                cluster.ControlPlane.Kill();
                return Task.CompletedTask;
            });
            await cluster.StartControlPlaneAsync();
            var present = (await cluster.Management.ListBackendsAsync(new ListRequest())).Items.Select(b => b.Metadata.Name).ToHashSet();
            var missing = acknowledged.Where(n => !present.Contains(n)).ToList();
            output.WriteLine($"{writers} writers: acknowledged {acknowledged.Count}, present after restart {acknowledged.Count - missing.Count}, kill after {killAfter}");
            Assert.True(acknowledged.Count >= killAfter, "writes were acknowledged before the kill");
            Assert.True(missing.Count == 0, $"acknowledged but missing after the restart: {string.Join(", ", missing.Take(20))}");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
