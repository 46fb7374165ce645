using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Events;

public class EventsCommandTests
{
    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

    private static Timestamp At(string utc) => Timestamp.FromDateTimeOffset(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture));

    private static Event Ev(long id, string lastAt, string type, string reason, string kind, string name, string agent, int count, string message) => new()
    {
        Id = id,
        At = At(lastAt),
        Type = type,
        Reason = reason,
        Kind = kind,
        Name = name,
        Agent = agent,
        Count = count,
        Message = message,
        FirstAt = At(lastAt),
        LastAt = At(lastAt),
    };

    private static EventList Existing() => new()
    {
        Items =
        {
            Ev(7, "2026-11-25T09:00:00Z", "Normal", "CertificateRotated", "Certificate", "shop", "", 1, "Rotated: fingerprint 1a2b3c4d5e6f -> 7a8b9c0d1e2f (valid until 2027-11-25)"),
            Ev(9, "2026-11-25T11:55:00Z", "Warning", "BackendUnhealthy", "Backend", "web-1", "edge-1", 3, "Unhealthy in pool web: connection refused"),
            Ev(12, "2026-11-25T11:59:15Z", "Normal", "AgentConnected", "Agent", "edge-2", "edge-2", 1, "Connected from 127.0.0.1 (tier edge, version 1.0.0)"),
        },
    };

    [Fact]
    public async Task Events_Table_HasKubectlColumns_OldestFirst()
    {
        var server = new FakeManagement().On<ListEventsRequest>("ListEvents", _ => Existing());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("events");

        Assert.Equal(0, exitCode);
        Assert.Equal(new ListEventsRequest(), Assert.Single(server.Requests<ListEventsRequest>("ListEvents")));
        Assert.Equal(
            [
                "LAST SEEN   TYPE      REASON               OBJECT             AGENT    COUNT   MESSAGE",
                "3h0m        Normal    CertificateRotated   certificate/shop   -        1       Rotated: fingerprint 1a2b3c4d5e6f -> 7a8b9c0d1e2f (valid until 2027-11-25)",
                "5m0s        Warning   BackendUnhealthy     backend/web-1      edge-1   3       Unhealthy in pool web: connection refused",
                "45s         Normal    AgentConnected       agent/edge-2       edge-2   1       Connected from 127.0.0.1 (tier edge, version 1.0.0)",
            ],
            Lines(output));
    }

    [Theory]
    [InlineData("be", "warning", "Backend", "Warning")]
    [InlineData("agents", "Normal", "Agent", "Normal")]
    [InlineData("Certificate", "WARNING", "Certificate", "Warning")]
    public async Task Events_Filters_SendTheStoredKindAndType_NameAgentAndLimit(string kind, string type, string expectedKind, string expectedType)
    {
        var server = new FakeManagement().On<ListEventsRequest>("ListEvents", _ => new EventList());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, error) = await cli.RunAsync("events", "--kind", kind, "--name", "web-1", "--agent", "edge-1", "--type", type, "--limit", "20");

        Assert.Equal(0, exitCode);
        Assert.Equal(new ListEventsRequest { Kind = expectedKind, Name = "web-1", Agent = "edge-1", Type = expectedType, Limit = 20 },
            Assert.Single(server.Requests<ListEventsRequest>("ListEvents")));
        Assert.Equal("", output);
        Assert.Equal("No events found.\n", error.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("events", "--kind", "widgets")]
    [InlineData("events", "--type", "error")]
    [InlineData("events", "--limit", "many")]
    [InlineData("events", "-o", "xml")]
    [InlineData("events", "extra")]
    public async Task Events_BadArguments_AreUsageErrors(params string[] args)
    {
        var server = new FakeManagement();
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, _) = await cli.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(server.Calls);
    }

    [Fact]
    public async Task Events_Json_IsAnItemsList()
    {
        var server = new FakeManagement().On<ListEventsRequest>("ListEvents", _ => Existing());
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync("events", "-o", "json");

        Assert.Equal(0, exitCode);
        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        Assert.Equal(["CertificateRotated", "BackendUnhealthy", "AgentConnected"], items.Select(i => (string)i!["reason"]!));
        Assert.Equal("edge-1", (string)items[1]!["agent"]!);
        Assert.Equal(3, (int)items[1]!["count"]!);
    }

    [Fact]
    public async Task Watch_PrintsExistingThenNew_ResumesAfterTheLastIdWhenTheStreamBreaks_AndCtrlCEndsIt()
    {
        using var ctrlC = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var options = new List<CallOptions>();
        var streams = 0;
        var server = new FakeManagement()
            .On<ListEventsRequest>("ListEvents", _ => Existing())
            .OnStream<WatchEventsRequest>("WatchEvents", (_, callOptions) =>
            {
                options.Add(callOptions);
                return ++streams == 1 ? BreakAfter(Ev(13, "2026-11-25T11:59:58Z", "Warning", "AgentLost", "Agent", "edge-2", "edge-2", 1, "Lost (tier edge): the connection was lost"))
                    : ThenCtrlC(ctrlC, callOptions.CancellationToken, Ev(15, "2026-11-25T12:00:00Z", "Warning", "BackendUnhealthy", "Backend", "web-1", "edge-1", 4, "Unhealthy in pool web: connection refused"));
            });
        using var cli = new CliHarness { Server = server };
        var token = cli.Home.File("token", "s3cret\n");

        var (exitCode, output, error) = await cli.RunAsync(ctrlC.Token, "--token-file", token, "events", "--type", "warning", "--watch");

        Assert.Equal(0, exitCode);
        Assert.Equal(
            [
                "LAST SEEN   TYPE      REASON               OBJECT                 AGENT        COUNT   MESSAGE",
                "3h0m        Normal    CertificateRotated   certificate/shop       -            1       Rotated: fingerprint 1a2b3c4d5e6f -> 7a8b9c0d1e2f (valid until 2027-11-25)",
                "5m0s        Warning   BackendUnhealthy     backend/web-1          edge-1       3       Unhealthy in pool web: connection refused",
                "45s         Normal    AgentConnected       agent/edge-2           edge-2       1       Connected from 127.0.0.1 (tier edge, version 1.0.0)",
                "2s          Warning   AgentLost            agent/edge-2           edge-2       1       Lost (tier edge): the connection was lost",
                "0s          Warning   BackendUnhealthy     backend/web-1          edge-1       4       Unhealthy in pool web: connection refused",
            ],
            Lines(output));
        Assert.Equal("watch: connection reset; reconnecting in 0.5s\n", error.ReplaceLineEndings("\n"));
        Assert.Equal(
            [new WatchEventsRequest { Type = "Warning", AfterId = 12 }, new WatchEventsRequest { Type = "Warning", AfterId = 13 }],
            server.Requests<WatchEventsRequest>("WatchEvents"));
        // The stream carries the token but no deadline: it runs until the user stops it.
        Assert.All(options, o => Assert.Null(o.Deadline));
        Assert.All(server.Calls, c => Assert.Equal("Bearer s3cret", c.Headers!.GetValue("authorization")));
    }

    [Fact]
    public async Task Watch_Json_IsOneObjectPerLine()
    {
        using var ctrlC = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = new FakeManagement()
            .On<ListEventsRequest>("ListEvents", _ => new EventList { Items = { Existing().Items[0] } })
            .OnStream<WatchEventsRequest>("WatchEvents", (_, callOptions) => ThenCtrlC(ctrlC, callOptions.CancellationToken, Existing().Items[1]));
        using var cli = new CliHarness { Server = server };

        var (exitCode, output, _) = await cli.RunAsync(ctrlC.Token, "events", "-w", "-o", "json");

        Assert.Equal(0, exitCode);
        var lines = Lines(output);
        Assert.Equal(["CertificateRotated", "BackendUnhealthy"], lines.Select(l => (string)JsonNode.Parse(l)!["reason"]!));
    }

    [Fact]
    public async Task Watch_Refused_IsAnErrorNotARetry()
    {
        var server = new FakeManagement()
            .On<ListEventsRequest>("ListEvents", _ => new EventList())
            .OnStream<WatchEventsRequest>("WatchEvents", (_, _) => Refuse(new RpcException(new Grpc.Core.Status(StatusCode.PermissionDenied, "role agent may not call /lb.v1.Events/WatchEvents"))));
        using var cli = new CliHarness { Server = server };

        var (exitCode, _, error) = await cli.RunAsync("events", "--watch");

        Assert.Equal(1, exitCode);
        Assert.Contains("may not call", error, StringComparison.Ordinal);
        Assert.Single(server.Requests<WatchEventsRequest>("WatchEvents"));
    }

    private static async IAsyncEnumerable<IMessage> BreakAfter(Event e)
    {
        await Task.Yield();
        yield return e;
        throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "connection reset"));
    }

    private static async IAsyncEnumerable<IMessage> ThenCtrlC(CancellationTokenSource ctrlC, [EnumeratorCancellation] CancellationToken cancellationToken, Event e)
    {
        await Task.Yield();
        yield return e;
        await ctrlC.CancelAsync();
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }

    private static async IAsyncEnumerable<IMessage> Refuse(RpcException refusal)
    {
        await Task.Yield();
        if (refusal is not null)
        {
            throw refusal;
        }
        yield break;
    }
}
