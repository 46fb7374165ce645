using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Tokens;

public class TokenCommandTests
{
    private const string Secret = "lbt_t-3f9a1c0b7d2e_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";

    private static Timestamp At(TimeSpan fromNow) => Timestamp.FromDateTimeOffset(Samples.Now + fromNow);

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    /// <summary>A server that creates the token asked for, valid 90 days when a ttl is given.</summary>
    private static FakeManagement Creating() => new FakeManagement()
        .On<CreateTokenRequest>("CreateToken", r => new CreateTokenResponse
        {
            Token = new Token
            {
                Id = "t-3f9a1c0b7d2e",
                Role = r.Role,
                Tier = r.Tier,
                Description = r.Description,
                CreatedAt = At(TimeSpan.Zero),
                ExpiresAt = r.Ttl.Length > 0 ? At(TimeSpan.FromDays(90)) : null,
                CreatedBy = "t-000000000001",
            },
            Secret = Secret,
        });

    [Fact]
    public async Task Create_Agent_SendsRoleTierTtlDescription_AndShowsTheSecretOnce()
    {
        var server = Creating();
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "create", "--role", "agent", "--tier", "edge", "--ttl", "90d", "--description", "edge agents");

        Assert.Equal(0, exitCode);
        var sent = Assert.Single(server.Requests<CreateTokenRequest>("CreateToken"));
        Assert.Equal(new CreateTokenRequest { Role = "agent", Tier = "edge", Ttl = "90d", Description = "edge agents" }, sent);
        Assert.Equal(
            [
                "Token:        t-3f9a1c0b7d2e",
                "Role:         agent",
                "Tier:         edge",
                "Description:  edge agents",
                "Expires:      2027-02-23T12:00:00Z (in 90d)",
                $"Secret:       {Secret}",
                "The secret cannot be shown again: store it now (a file for --token-file, mode 0600).",
            ],
            Lines(output));
        Assert.Single(Lines(output), l => l.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Create_AdminWithoutTtl_SendsNoTierOrTtl_AndNeverExpires()
    {
        var server = Creating();
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "create", "--role", "admin");

        Assert.Equal(0, exitCode);
        Assert.Equal(new CreateTokenRequest { Role = "admin" }, Assert.Single(server.Requests<CreateTokenRequest>("CreateToken")));
        Assert.Contains("Tier:         -", Lines(output));
        Assert.Contains("Expires:      never", Lines(output));
    }

    [Fact]
    public async Task Create_OutputFile_WritesOnlyTheSecretWithMode0600_AndDoesNotPrintIt()
    {
        using var cli = new CliHarness { Server = Creating(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "create", "--role", "viewer", "--output-file", "viewer.token");

        Assert.Equal(0, exitCode);
        var path = Path.Join(cli.Home.Path, "viewer.token");
        Assert.Equal(Secret + "\n", File.ReadAllText(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        Assert.DoesNotContain(Secret, output, StringComparison.Ordinal);
        Assert.Contains($"Secret:       written to {path} (mode 0600); it cannot be shown again", Lines(output));
        Assert.Contains("Token:        t-3f9a1c0b7d2e", Lines(output));
        // Nothing left beside it (the temporary file was renamed).
        Assert.Equal(["viewer.token"], Directory.GetFiles(cli.Home.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Create_OutputFileReplacingAWorldReadableFile_Is0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        using var cli = new CliHarness { Server = Creating() };
        var path = cli.Home.File("agent.token", "old\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var (exitCode, _, _) = await cli.RunAsync("token", "create", "--role", "agent", "--tier", "edge", "--output-file", path);

        Assert.Equal(0, exitCode);
        Assert.Equal(Secret + "\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task Create_OutputFileInMissingFolder_FailsBeforeAnyTokenIsCreated()
    {
        var server = Creating();
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("token", "create", "--role", "viewer", "--output-file", "no-such-dir/viewer.token");

        Assert.Equal(1, exitCode);
        var folder = Path.Join(cli.Home.Path, "no-such-dir");
        Assert.Equal($"error: cannot write {Path.Join(folder, "viewer.token")}: folder {folder} does not exist\n", error.ReplaceLineEndings("\n"));
        Assert.Empty(server.Calls);
    }

    [Fact]
    public async Task Create_ServerRefuses_PrintsFieldViolationsExit1_AndLeavesTheFileAlone()
    {
        var server = new FakeManagement().On<CreateTokenRequest>("CreateToken", _ => throw new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = "ttl: '400d' must be a duration from 1m to 365d",
            Details =
            {
                Any.Pack(new BadRequest
                {
                    FieldViolations = { new BadRequest.Types.FieldViolation { Field = "ttl", Description = "'400d' must be a duration from 1m to 365d, e.g. 90d or 12h (empty: never expires)" } },
                }),
            },
        }.ToRpcException());
        using var cli = new CliHarness { Server = server };
        var path = cli.Home.File("viewer.token", "previous\n");

        var (exitCode, output, error) = await cli.RunAsync("token", "create", "--role", "viewer", "--ttl", "400d", "--output-file", path);

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Equal(
            [
                "Error from server (InvalidArgument): invalid request",
                "  ttl: '400d' must be a duration from 1m to 365d, e.g. 90d or 12h (empty: never expires)",
            ],
            Lines(error));
        Assert.Equal("previous\n", File.ReadAllText(path));
        Assert.Equal(["viewer.token"], Directory.GetFiles(cli.Home.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("an agent token needs --tier", "token", "create", "--role", "agent")]
    [InlineData("--tier is for agent tokens only", "token", "create", "--role", "viewer", "--tier", "edge")]
    [InlineData("--tier is for agent tokens only", "token", "create", "--role", "admin", "--tier", "edge")]
    [InlineData("--role", "token", "create", "--tier", "edge")]
    [InlineData("root", "token", "create", "--role", "root")]
    public async Task Create_UsageErrors_Exit2WithoutCallingTheServer(string message, params string[] args)
    {
        var server = Creating();
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Contains("--help", error, StringComparison.Ordinal);
        Assert.Equal("", output);
        Assert.Empty(server.Calls);
    }

    private static FakeManagement Listing() => new FakeManagement()
        .On<ListTokensRequest>("ListTokens", r =>
        {
            var list = new TokenList
            {
                Items =
                {
                    new Token { Id = "t-aaaaaaaaaaaa", Role = "agent", Tier = "edge", Description = "edge agents", CreatedAt = At(-TimeSpan.FromHours(2)), ExpiresAt = At(TimeSpan.FromDays(89.5)), LastUsedAt = At(-TimeSpan.FromMinutes(3)) },
                    new Token { Id = "t-bbbbbbbbbbbb", Role = "admin", Description = "bootstrap admin token", CreatedAt = At(-TimeSpan.FromDays(30)), CreatedBy = "bootstrap" },
                },
            };
            if (r.All)
            {
                list.Items.Add(new Token { Id = "t-cccccccccccc", Role = "viewer", CreatedAt = At(-TimeSpan.FromDays(40)), RevokedAt = At(-TimeSpan.FromDays(1)), ExpiresAt = At(TimeSpan.FromDays(50)) });
                list.Items.Add(new Token { Id = "t-dddddddddddd", Role = "viewer", CreatedAt = At(-TimeSpan.FromDays(100)), ExpiresAt = At(-TimeSpan.FromDays(10)) });
            }
            return list;
        });

    [Fact]
    public async Task List_Table_ShowsAgesExpiryLastUseAndStatus()
    {
        var server = Listing();
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "list", "--all");

        Assert.Equal(0, exitCode);
        Assert.True(Assert.Single(server.Requests<ListTokensRequest>("ListTokens")).All);
        Assert.Equal(
            [
                "ID               ROLE     TIER   DESCRIPTION             CREATED   EXPIRES   LAST-USED   STATUS",
                "t-aaaaaaaaaaaa   agent    edge   edge agents             120m      in 89d    3m0s        active",
                "t-bbbbbbbbbbbb   admin    -      bootstrap admin token   30d       never     never       active",
                "t-cccccccccccc   viewer   -      -                       40d       in 50d    never       revoked",
                "t-dddddddddddd   viewer   -      -                       100d      expired   never       expired",
            ],
            Lines(output));
    }

    [Fact]
    public async Task List_WithoutAll_AsksForActiveTokensOnly()
    {
        var server = Listing();
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "list");

        Assert.Equal(0, exitCode);
        Assert.False(Assert.Single(server.Requests<ListTokensRequest>("ListTokens")).All);
        Assert.Equal(3, Lines(output).Length);
    }

    [Fact]
    public async Task List_Json_IsItemsOfProtobufJson()
    {
        using var cli = new CliHarness { Server = Listing(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "list", "-o", "json");

        Assert.Equal(0, exitCode);
        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        Assert.Equal(["t-aaaaaaaaaaaa", "t-bbbbbbbbbbbb"], items.Select(i => i!["id"]!.GetValue<string>()));
        Assert.Equal("edge", items[0]!["tier"]!.GetValue<string>());
        Assert.Equal("2027-02-23T00:00:00Z", items[0]!["expiresAt"]!.GetValue<string>());
        Assert.Equal("bootstrap", items[1]!["createdBy"]!.GetValue<string>());
        Assert.DoesNotContain("lbt_", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_Yaml_IsOneItemsDocument()
    {
        using var cli = new CliHarness { Server = Listing(), Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("token", "list", "-o", "yaml");

        Assert.Equal(0, exitCode);
        var lines = Lines(output);
        Assert.Equal("items:", lines[0]);
        Assert.Contains("- id: t-aaaaaaaaaaaa", lines);
        Assert.Contains("  role: admin", lines);
    }

    [Fact]
    public async Task List_None_SaysSoOnStderr()
    {
        using var cli = new CliHarness { Server = new FakeManagement().On<ListTokensRequest>("ListTokens", _ => new TokenList()) };

        var (exitCode, output, error) = await cli.RunAsync("token", "list");

        Assert.Equal(0, exitCode);
        Assert.Equal("", output);
        Assert.Equal("No tokens found.\n", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Revoke_SendsTheIdAndSaysRevoked()
    {
        var server = new FakeManagement().On<RevokeTokenRequest>("RevokeToken", r => new Token { Id = r.Id, Role = "viewer", RevokedAt = At(TimeSpan.Zero) });
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("token", "revoke", "t-cccccccccccc");

        Assert.Equal(0, exitCode);
        Assert.Equal("t-cccccccccccc", Assert.Single(server.Requests<RevokeTokenRequest>("RevokeToken")).Id);
        Assert.Equal("token t-cccccccccccc revoked\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Revoke_UnknownToken_Exit1WithTheServerMessage()
    {
        var server = new FakeManagement().On<RevokeTokenRequest>("RevokeToken", r => throw new RpcException(new Grpc.Core.Status(StatusCode.NotFound, $"token {r.Id} not found")));
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("token", "revoke", "t-nope");

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Equal("Error from server (NotFound): token t-nope not found\n", error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("token", "revoke")]
    [InlineData("token", "revoke", "--all")]
    [InlineData("token", "revoke", "t-1", "t-2")]
    public async Task Revoke_NotExactlyOneId_IsUsageError(params string[] args)
    {
        var server = new FakeManagement();
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, _) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(server.Calls);
    }

    [Fact]
    public async Task TokenCalls_CarryTheBearerToken()
    {
        var server = Listing();
        using var cli = new CliHarness { Server = server };
        var tokenFile = cli.Home.File("admin.token", "lbt_t-admin_s3cret\n");

        var (exitCode, _, _) = await cli.RunAsync("--token-file", tokenFile, "token", "list");

        Assert.Equal(0, exitCode);
        Assert.Equal("Bearer lbt_t-admin_s3cret", Assert.Single(server.Calls).Headers!.GetValue("authorization"));
    }
}
