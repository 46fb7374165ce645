using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Audit;

public class AuditCommandTests
{
    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    private static Timestamp At(string utc) => Timestamp.FromDateTimeOffset(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture));

    private static AuditList Entries() => new()
    {
        Items =
        {
            new AuditEntry { Id = 5, At = At("2026-11-25T11:59:58.750Z"), TokenId = "t-3f9a1c0b7d2e", Role = "admin", Action = "revoke", Kind = "Token", Name = "t-0123456789ab", Peer = "ipv4:127.0.0.1:50412" },
            new AuditEntry { Id = 4, At = At("2026-11-25T11:50:00Z"), TokenId = "t-3f9a1c0b7d2e", Role = "admin", Action = "delete", Kind = "Backend", Name = "web-2", OldResourceVersion = 4, Revision = 43, Peer = "ipv4:127.0.0.1:50400" },
            new AuditEntry { Id = 3, At = At("2026-11-25T11:40:00Z"), TokenId = "t-3f9a1c0b7d2e", Role = "admin", Action = "update", Kind = "Pool", Name = "web", OldResourceVersion = 4, NewResourceVersion = 5, Revision = 42, Peer = "ipv4:127.0.0.1:50399" },
            new AuditEntry { Id = 2, At = At("2026-11-25T11:30:00Z"), TokenId = "t-3f9a1c0b7d2e", Role = "admin", Action = "create", Kind = "Pool", Name = "web", NewResourceVersion = 5, Revision = 41, Peer = "ipv4:127.0.0.1:50398" },
            new AuditEntry { Id = 1, At = At("2026-11-25T11:00:00Z"), TokenId = "bootstrap", Role = "admin", Action = "create", Kind = "Token", Name = "t-3f9a1c0b7d2e", Peer = "local" },
        },
    };

    [Fact]
    public async Task Audit_Table_ShowsWhoAndVersionsOfCreateUpdateDeleteAndTokens()
    {
        var server = new FakeManagement().On<ListAuditRequest>("ListAudit", _ => Entries());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("audit");

        Assert.Equal(0, exitCode);
        Assert.Equal(new ListAuditRequest(), Assert.Single(server.Requests<ListAuditRequest>("ListAudit")));
        Assert.Equal(
            [
                "TIME                   WHO                      ACTION   KIND      NAME             VERSION   REVISION   PEER",
                "2026-11-25T11:59:58Z   t-3f9a1c0b7d2e (admin)   revoke   Token     t-0123456789ab                        ipv4:127.0.0.1:50412",
                "2026-11-25T11:50:00Z   t-3f9a1c0b7d2e (admin)   delete   Backend   web-2            4 -> -    43         ipv4:127.0.0.1:50400",
                "2026-11-25T11:40:00Z   t-3f9a1c0b7d2e (admin)   update   Pool      web              4 -> 5    42         ipv4:127.0.0.1:50399",
                "2026-11-25T11:30:00Z   t-3f9a1c0b7d2e (admin)   create   Pool      web              - -> 5    41         ipv4:127.0.0.1:50398",
                "2026-11-25T11:00:00Z   bootstrap (admin)        create   Token     t-3f9a1c0b7d2e                        local",
            ],
            Lines(output));
    }

    [Theory]
    [InlineData("pools", "Pool")]
    [InlineData("be", "Backend")]
    [InlineData("Certificate", "Certificate")]
    [InlineData("tokens", "Token")]
    [InlineData("token", "Token")]
    public async Task Audit_Filters_SendTheStoredKindNameAndLimit(string kind, string expected)
    {
        var server = new FakeManagement().On<ListAuditRequest>("ListAudit", _ => new AuditList());
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("audit", "--kind", kind, "--name", "web", "--limit", "20");

        Assert.Equal(0, exitCode);
        Assert.Equal(new ListAuditRequest { Kind = expected, Name = "web", Limit = 20 }, Assert.Single(server.Requests<ListAuditRequest>("ListAudit")));
        Assert.Equal("No audit entries found.\n", error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("audit", "--kind", "widgets")]
    [InlineData("audit", "--limit", "many")]
    [InlineData("audit", "-o", "xml")]
    public async Task Audit_BadArguments_AreUsageErrors(params string[] args)
    {
        var server = new FakeManagement();
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, _) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(server.Calls);
    }

    [Fact]
    public async Task Audit_Json_IsItemsOfProtobufJson()
    {
        using var cli = new CliHarness { Server = new FakeManagement().On<ListAuditRequest>("ListAudit", _ => Entries()) };

        var (exitCode, output, _) = await cli.RunAsync("audit", "-o", "json");

        Assert.Equal(0, exitCode);
        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        Assert.Equal(5, items.Count);
        var update = items[2]!;
        Assert.Equal("update", update["action"]!.GetValue<string>());
        Assert.Equal("4", update["oldResourceVersion"]!.GetValue<string>());
        Assert.Equal("5", update["newResourceVersion"]!.GetValue<string>());
        Assert.Equal("2026-11-25T11:40:00Z", update["at"]!.GetValue<string>());
    }

    [Fact]
    public async Task Audit_LimitTooLarge_ServerRefusalExit1()
    {
        var server = new FakeManagement().On<ListAuditRequest>("ListAudit", _ => throw new Google.Rpc.Status
        {
            Code = (int)Google.Rpc.Code.InvalidArgument,
            Message = "limit: must be from 0 (default 100) to 1000",
            Details = { Any.Pack(new Google.Rpc.BadRequest { FieldViolations = { new Google.Rpc.BadRequest.Types.FieldViolation { Field = "limit", Description = "must be from 0 (default 100) to 1000" } } }) },
        }.ToRpcException());
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("audit", "--limit", "5000");

        Assert.Equal(1, exitCode);
        Assert.Equal(5000, Assert.Single(server.Requests<ListAuditRequest>("ListAudit")).Limit);
        Assert.Contains("  limit: must be from 0 (default 100) to 1000", Lines(error));
    }
}
