using System.Text.Json;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.History;

/// <summary>
/// Configuration history end to end: 50 writes, then lbctl history, history show, diff
/// --revision and a rollback to the 10th revision, served by a real agent to real backends;
/// then bad rollbacks (a revision that does not exist, one compacted after a restart with a
/// smaller retention) refused by name with nothing written.
/// </summary>
public sealed partial class HistoryRollbackTests
{
    /// <summary>The line that opens one resource's part of a diff: "+ pool/web (new)", "~ pool/web", "- pool/web (removed)".</summary>
    [System.Text.RegularExpressions.GeneratedRegex("^[+~-] (pool|backend|listener|certificate)/")]
    private static partial System.Text.RegularExpressions.Regex ResourceLine();

    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    private static Resource WebPool(int step) => new()
    {
        Pool = new Pool
        {
            Metadata = new ObjectMeta { Name = "web", Labels = { ["step"] = step.ToString(System.Globalization.CultureInfo.InvariantCulture) } },
            Spec = new PoolSpec { Protocol = "http", Algorithm = "round-robin" },
        },
    };

    [Fact]
    public async Task FiftyWrites_RollbackToTheTenth_StoresAndServesItExactly_AndBadTargetsWriteNothing()
    {
        await using var cluster = await TestCluster.StartAsync();
        var old = await cluster.StartBackendAsync("old-a");
        var next = await cluster.StartBackendAsync("new-b");
        await cluster.StartAgentAsync("edge", "edge-1");
        var port = Ports.Free();
        var url = $"http://127.0.0.1:{port}/";

        // Revision 1: the whole service at once; 2-10: the pool relabelled.
        var apply = await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("web"), Yaml.Backend(old.Name, "web", old.Port), Yaml.HttpListener("public", "edge", port, "web")));
        Assert.True(apply.ExitCode == 0, apply.ToString());
        for (var step = 2; step <= 10; step++)
        {
            await cluster.Management.ApplyAsync(new ApplyRequest { Resources = { WebPool(step) } });
        }
        await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "old-a", Propagation, "old-a to answer at revision 10", cluster.Diagnostics);
        // 11: a new backend; 12: the old one deleted; 13: another pool; 14-50: relabels.
        await cluster.Management.ApplyAsync(new ApplyRequest
        {
            Resources = { new Resource { Backend = new Backend { Metadata = new ObjectMeta { Name = "new-b" }, Spec = new BackendSpec { Pool = "web", Address = next.Address } } } },
        });
        await cluster.Management.DeleteBackendAsync(new DeleteRequest { Name = "old-a" });
        await cluster.Management.ApplyAsync(new ApplyRequest { Resources = { new Resource { Pool = new Pool { Metadata = new ObjectMeta { Name = "extra" }, Spec = new PoolSpec { Protocol = "http" } } } } });
        for (var step = 14; step <= 50; step++)
        {
            await cluster.Management.ApplyAsync(new ApplyRequest { Resources = { WebPool(step) } });
        }
        Assert.Equal(50, (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision);
        await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "new-b", Propagation, "new-b to answer at revision 50", cluster.Diagnostics);

        // history: one line per revision, newest first.
        var history = await cluster.LbctlAsync("history");
        Assert.True(history.ExitCode == 0, history.ToString());
        var lines = history.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(51, lines.Length);
        Assert.StartsWith("50 ", lines[1], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("12 ", StringComparison.Ordinal) && l.Contains("delete backend/old-a", StringComparison.Ordinal));
        var json = await cluster.LbctlAsync("history", "backends", "old-a", "-o", "json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var revisions = JsonDocument.Parse(json.Stdout).RootElement.GetProperty("items").EnumerateArray()
            .Select(i => i.GetProperty("revision").GetString()!).ToArray();
        Assert.Equal(["12", "1"], revisions);

        // history show 10 and diff --revision.
        var atTen = await cluster.LbctlAsync("history", "show", "10");
        Assert.True(atTen.ExitCode == 0, atTen.ToString());
        Assert.Contains("step: \"10\"", atTen.Stdout, StringComparison.Ordinal);
        var diff = await cluster.LbctlAsync("diff", "--revision", "10..50");
        Assert.True(diff.ExitCode == 1, diff.ToString());
        var headers = diff.Stdout.Split('\n').Where(l => ResourceLine().IsMatch(l)).ToArray();
        Assert.Equal(["+ pool/extra (new)", "~ pool/web", "+ backend/new-b (new)", "- backend/old-a (removed)"], headers);

        // A dry run writes nothing.
        var dryRun = await cluster.LbctlAsync("rollback", "--to", "10", "--dry-run");
        Assert.True(dryRun.ExitCode == 0 && dryRun.Stdout.Contains("nothing written", StringComparison.Ordinal), dryRun.ToString());
        Assert.Equal(50, (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision);

        var rollback = await cluster.LbctlAsync("rollback", "--to", "10");
        Assert.True(rollback.ExitCode == 0, rollback.ToString());
        Assert.Contains("revision 51 written", rollback.Stdout, StringComparison.Ordinal);

        // The stored configuration equals revision 10, byte for byte, and the agent serves it.
        var export = await cluster.LbctlAsync("export");
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Equal(atTen.Stdout, export.Stdout);
        Assert.Equal(atTen.Stdout, (await cluster.LbctlAsync("history", "show", "51")).Stdout);
        await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "old-a", Propagation, "old-a to answer again after the rollback", cluster.Diagnostics);
        Assert.Equal(["old-a"], (await cluster.CountBackendsAsync(url, 10)).Keys);

        // One audit entry says rollback; history names it.
        var audit = await cluster.Access.ListAuditAsync(new ListAuditRequest { Limit = 1000 });
        Assert.Single(audit.Items, e => e.Action == "rollback");
        var latest = (await cluster.LbctlAsync("history", "--limit", "1")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Contains("rollback to 10: ", latest, StringComparison.Ordinal);

        // A revision that does not exist: refused naming the field, nothing written.
        var missing = await cluster.LbctlAsync("rollback", "--to", "999");
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("to: revision 999 does not exist; the current revision is 51", missing.Stderr, StringComparison.Ordinal);

        // Restarted keeping 30 revisions: 10 is compacted, and said so.
        await cluster.ControlPlane.TerminateAsync(TimeSpan.FromSeconds(10));
        cluster.ControlPlaneArguments = ["--history-revisions", "30"];
        await cluster.StartControlPlaneAsync();
        await Wait.UntilAsync(
            async () => (await cluster.LbctlAsync("history", "show", "21")).Stderr.Contains("compacted", StringComparison.Ordinal),
            Propagation, "the control plane to compact below revision 22", cluster.Diagnostics);
        var compacted = await cluster.LbctlAsync("rollback", "--to", "10");
        Assert.True(compacted.ExitCode == 1, compacted.ToString());
        Assert.Contains("to: revision 10 was compacted; oldest kept is 22", compacted.Stderr, StringComparison.Ordinal);
        Assert.Equal(51, (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision);
        Assert.Single((await cluster.Access.ListAuditAsync(new ListAuditRequest { Limit = 1000 })).Items, e => e.Action == "rollback");
        Assert.Equal(atTen.Stdout, (await cluster.LbctlAsync("history", "show", "51")).Stdout);
    }
}
