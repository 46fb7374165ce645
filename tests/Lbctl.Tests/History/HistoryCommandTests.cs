using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.History;

public class HistoryCommandTests
{
    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    private static Timestamp At(string utc) => Timestamp.FromDateTimeOffset(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture));

    private static HistoryList Revisions() => new()
    {
        CurrentRevision = 43,
        OldestKept = 40,
        Items =
        {
            new HistoryEntry { Revision = 43, At = At("2026-11-25T11:50:00Z"), Actor = "t-3f9a1c0b7d2e", Role = "admin", RollbackTo = 41, Changes = { new HistoryChange { Kind = "Backend", Name = "web-2", Operation = "delete" } } },
            new HistoryEntry
            {
                Revision = 42, At = At("2026-11-25T11:40:00Z"), Actor = "t-3f9a1c0b7d2e", Role = "admin",
                Changes =
                {
                    new HistoryChange { Kind = "Pool", Name = "web", Operation = "update" },
                    new HistoryChange { Kind = "Backend", Name = "web-2", Operation = "create" },
                },
            },
        },
    };

    private static Resource R(Api.V1.Pool pool) => new() { Pool = pool };

    private static Api.V1.Pool Pool(string name, string algorithm) =>
        new() { Metadata = new ObjectMeta { Name = name, ResourceVersion = 9 }, Spec = new PoolSpec { Protocol = "http", Algorithm = algorithm } };

    [Fact]
    public async Task History_Table_OneLinePerRevision_WithRollbacksNamed()
    {
        var server = new FakeManagement().On<ListHistoryRequest>("ListHistory", _ => Revisions());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("history");

        Assert.Equal(0, exitCode);
        Assert.Equal(
            [
                "REVISION   TIME                   WHO                      CHANGES",
                "43         2026-11-25T11:50:00Z   t-3f9a1c0b7d2e (admin)   rollback to 41: delete backend/web-2",
                "42         2026-11-25T11:40:00Z   t-3f9a1c0b7d2e (admin)   update pool/web, create backend/web-2",
            ],
            Lines(output));
        Assert.Contains("Revisions before 40 were compacted.", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("history pools web")]
    [InlineData("history --kind po --name web")]
    public async Task History_KindAndName_AsArgumentsOrFlags_AreSentAsFilters(string commandLine)
    {
        var args = commandLine.Split(' ');
        var server = new FakeManagement().On<ListHistoryRequest>("ListHistory", _ => new HistoryList());
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync(args);

        Assert.Equal(0, exitCode);
        Assert.Equal(new ListHistoryRequest { Kind = "Pool", Name = "web" }, Assert.Single(server.Requests<ListHistoryRequest>("ListHistory")));
        Assert.Contains("No revisions found.", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_Json_IsTheListAsTheServerSentIt()
    {
        var server = new FakeManagement().On<ListHistoryRequest>("ListHistory", _ => Revisions());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("history", "-o", "json");

        Assert.Equal(0, exitCode);
        Assert.Contains("\"rollbackTo\": \"41\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HistoryShow_PrintsTheRevisionAsAnApplyManifest()
    {
        var content = new RevisionContent
        {
            Revision = 12,
            Resources =
            {
                new Resource { Certificate = new Api.V1.Certificate { Metadata = new ObjectMeta { Name = "tls" }, Spec = new CertificateSpec { CertificatePem = "PEM" } } },
                R(Pool("web", "round-robin")),
            },
        };
        var server = new FakeManagement().On<GetRevisionRequest>("GetRevision", _ => content);
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("history", "show", "12");

        Assert.Equal(0, exitCode);
        Assert.Equal(12, Assert.Single(server.Requests<GetRevisionRequest>("GetRevision")).Revision);
        Assert.Equal(LoadBalancer.Cli.Export.ExportCommand.Render([(LoadBalancer.Cli.Resources.ApiKinds.Certificate, content.Resources[0].Certificate), (LoadBalancer.Cli.Resources.ApiKinds.Pool, content.Resources[1].Pool)]), output);
        Assert.Contains("kind: Pool", output, StringComparison.Ordinal);
        Assert.DoesNotContain("resourceVersion", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HistoryShow_NotANumber_IsAUsageError()
    {
        using var cli = new CliHarness { Server = new FakeManagement() };
        var (exitCode, _, error) = await cli.RunAsync("history", "show", "ten");
        Assert.Equal(2, exitCode);
        Assert.Contains("REV must be a revision number", error, StringComparison.Ordinal);
    }

    private static ResourceChange[] Changes() =>
    [
        new() { Kind = "Pool", Name = "api", Change = "added", After = R(Pool("api", "random")) },
        new() { Kind = "Pool", Name = "old", Change = "removed", Before = R(Pool("old", "random")) },
        new() { Kind = "Pool", Name = "web", Change = "changed", Before = R(Pool("web", "round-robin")), After = R(Pool("web", "random")) },
    ];

    [Theory]
    [InlineData("10", 10, 0)]
    [InlineData("10..12", 10, 12)]
    public async Task DiffRevision_ShowsAddedRemovedAndChanged_ExitsOneOnDifferences(string range, long from, long to)
    {
        var server = new FakeManagement().On<DiffRevisionsRequest>("DiffRevisions", r => new RevisionDiff { From = r.From, To = r.To == 0 ? 43 : r.To, Changes = { Changes() } });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("diff", "--revision", range);

        Assert.Equal(1, exitCode);
        Assert.Equal(new DiffRevisionsRequest { From = from, To = to }, Assert.Single(server.Requests<DiffRevisionsRequest>("DiffRevisions")));
        var lines = Lines(output);
        Assert.Equal($"--- revision {from}", lines[0]);
        Assert.Equal($"+++ revision {(to == 0 ? 43 : to)}", lines[1]);
        Assert.Contains("+ pool/api (new)", lines);
        Assert.Contains("- pool/old (removed)", lines);
        Assert.Contains("~ pool/web", lines);
        Assert.Contains("-  algorithm: round-robin", lines);
        Assert.Contains("+  algorithm: random", lines);
    }

    [Theory]
    [InlineData("ten")]
    [InlineData("3..")]
    [InlineData("3..4..5")]
    public async Task DiffRevision_Malformed_IsAUsageError(string range)
    {
        using var cli = new CliHarness { Server = new FakeManagement() };
        var (exitCode, _, error) = await cli.RunAsync("diff", "--revision", range);
        Assert.Equal(2, exitCode);
        Assert.Contains("--revision must be A or A..B", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_DryRun_ShowsTheDiff_AndSaysNothingWasWritten()
    {
        var server = new FakeManagement().On<RollbackRequest>("Rollback", r => new RollbackResponse { Revision = 43, DryRun = r.DryRun, Changes = { Changes() } });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("rollback", "--to", "10", "--dry-run");

        Assert.Equal(0, exitCode);
        Assert.Equal(new RollbackRequest { To = 10, DryRun = true }, Assert.Single(server.Requests<RollbackRequest>("Rollback")));
        Assert.Contains("~ pool/web", Lines(output));
        Assert.EndsWith("dry run: rolling back to revision 10 would change 3 resource(s); nothing written", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_SaysWhichRevisionItWrote()
    {
        var server = new FakeManagement().On<RollbackRequest>("Rollback", _ => new RollbackResponse { Revision = 44, Changes = { Changes()[0] }, Warnings = { "Certificate/tls: expires in 3 days" } });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("rollback", "--to", "10");

        Assert.Equal(0, exitCode);
        Assert.EndsWith("rolled back to revision 10: revision 44 written (1 resource(s) changed)", output.TrimEnd(), StringComparison.Ordinal);
        Assert.Contains("warning: Certificate/tls: expires in 3 days", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_WithoutTo_IsAUsageError()
    {
        using var cli = new CliHarness { Server = new FakeManagement() };
        var (exitCode, _, _) = await cli.RunAsync("rollback");
        Assert.Equal(2, exitCode);
    }
}
