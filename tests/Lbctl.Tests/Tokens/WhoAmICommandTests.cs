using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Tokens;

public class WhoAmICommandTests
{
    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    [Fact]
    public async Task WhoAmI_PrintsServerTokenIdRoleAndTier()
    {
        var server = new FakeManagement().On<WhoAmIRequest>("WhoAmI", _ => new Token
        {
            Id = "t-3f9a1c0b7d2e",
            Role = "agent",
            Tier = "edge",
            CreatedAt = Timestamp.FromDateTimeOffset(Samples.Now - TimeSpan.FromDays(1)),
            ExpiresAt = Timestamp.FromDateTimeOffset(Samples.Now + TimeSpan.FromDays(89)),
        });
        using var cli = new CliHarness { Server = server, Now = Samples.Now };

        var (exitCode, output, _) = await cli.RunAsync("whoami");

        Assert.Equal(0, exitCode);
        Assert.Single(server.Requests<WhoAmIRequest>("WhoAmI"));
        Assert.Equal(
            [
                "Server:       https://127.0.0.1:7400",
                "Token:        t-3f9a1c0b7d2e",
                "Role:         agent",
                "Tier:         edge",
                "Expires:      2027-02-22T12:00:00Z (in 89d)",
            ],
            Lines(output));
    }

    [Fact]
    public async Task WhoAmI_AdminWithoutExpiry_HasNoTierAndNeverExpires()
    {
        var server = new FakeManagement().On<WhoAmIRequest>("WhoAmI", _ => new Token { Id = "t-000000000001", Role = "admin", Description = "bootstrap admin token" });
        using var cli = new CliHarness { Server = server };

        var (_, output, _) = await cli.RunAsync("whoami");

        var lines = Lines(output);
        Assert.Contains("Role:         admin", lines);
        Assert.Contains("Tier:         -", lines);
        Assert.Contains("Description:  bootstrap admin token", lines);
        Assert.Contains("Expires:      never", lines);
    }

    [Fact]
    public async Task WhoAmI_NoToken_Exit1AndSaysHowToGiveOne()
    {
        var server = new FakeManagement().On<WhoAmIRequest>("WhoAmI", _ => throw new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated, "no bearer token: send 'authorization: Bearer TOKEN'")));
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("whoami");

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.StartsWith("Error from server (Unauthenticated): no bearer token", error, StringComparison.Ordinal);
        Assert.Contains("--token-file", error, StringComparison.Ordinal);
    }
}
