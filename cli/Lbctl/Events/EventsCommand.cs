using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Events;

/// <summary>
/// <c>lbctl events [--kind K] [--name N] [--agent A] [--type T] [--limit N] [-w] [-o table|json|yaml]</c>:
/// what happened, oldest first; with --watch, then each new event until Ctrl-C.
/// </summary>
internal static class EventsCommand
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(10);

    public static Command Create(CommandRunner runner)
    {
        var kind = new Option<string?>("--kind") { Description = $"Only events about this kind: {ApiKinds.CommandLineNames}", HelpName = "KIND" };
        var name = new Option<string?>("--name") { Description = "Only events about the object with this name", HelpName = "NAME" };
        var agent = new Option<string?>("--agent") { Description = "Only events seen by this agent", HelpName = "AGENT" };
        var type = new Option<string?>("--type") { Description = "Only Normal or Warning events", HelpName = "TYPE" };
        var limit = new Option<int?>("--limit") { Description = "At most this many past events, the newest (server default 100, at most 1000)", HelpName = "N" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Then print new events as they happen, until Ctrl-C (reconnects when the stream breaks)" };
        var output = OutputOption.Create();

        var command = new Command("events", "Show what happened: backends turning unhealthy and why, listeners failing, certificates rotated, agents connected or lost, drains finished");
        command.Options.Add(kind);
        command.Options.Add(name);
        command.Options.Add(agent);
        command.Options.Add(type);
        command.Options.Add(limit);
        command.Options.Add(watch);
        command.Options.Add(output);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var request = new ListEventsRequest
            {
                Kind = EventKind(parseResult.GetValue(kind)),
                Name = parseResult.GetValue(name) ?? "",
                Agent = parseResult.GetValue(agent) ?? "",
                Type = EventType(parseResult.GetValue(type)),
                Limit = parseResult.GetValue(limit) ?? 0,
            };
            var format = parseResult.GetValue(output)!;
            var list = await context.Events.ListEventsAsync(request, cancellationToken: cancellationToken);
            if (!parseResult.GetValue(watch))
            {
                Print(context, list, format);
                return ExitCodes.Success;
            }
            return await WatchAsync(context, request, list, format, cancellationToken);
        });
        return command;
    }

    private static void Print(CliContext context, EventList list, string format)
    {
        var now = context.Now;
        ListOutput.Write(context, format, list.Items, "No events found.", EventTable.Headers, e => EventTable.Row(e, now));
    }

    /// <summary>Prints the listed events, then follows the stream from the last id seen, reconnecting with backoff when it breaks.</summary>
    private static async Task<int> WatchAsync(CliContext context, ListEventsRequest filter, EventList existing, string format, CancellationToken cancellationToken)
    {
        var print = Printer(context, format);
        print(existing.Items);
        var afterId = existing.Items.Count > 0 ? existing.Items[^1].Id : 0;
        var retry = FirstRetry;
        try
        {
            while (true)
            {
                string broken;
                try
                {
                    var request = new WatchEventsRequest { Kind = filter.Kind, Name = filter.Name, Agent = filter.Agent, Type = filter.Type, AfterId = afterId };
                    using var call = context.Events.WatchEvents(request, cancellationToken: cancellationToken);
                    while (await call.ResponseStream.MoveNext(cancellationToken))
                    {
                        var e = call.ResponseStream.Current;
                        print([e]);
                        afterId = e.Id;
                        retry = FirstRetry;
                    }
                    broken = "the server ended the stream";
                }
                catch (RpcException ex) when (IsTransient(ex.StatusCode) && !cancellationToken.IsCancellationRequested)
                {
                    broken = ex.Status.Detail.Length > 0 ? ex.Status.Detail : ex.StatusCode.ToString();
                }
                context.Err.WriteLine($"watch: {broken}; reconnecting in {retry.TotalSeconds:0.#}s");
                await Task.Delay(retry, context.Environment.Time, cancellationToken);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            // Ctrl-C is how a watch ends.
            return ExitCodes.Success;
        }
    }

    /// <summary>Table rows under one header, one JSON object per line, or one YAML document per event.</summary>
    private static Action<IReadOnlyList<Event>> Printer(CliContext context, string format)
    {
        switch (format)
        {
            case OutputOption.Json:
                return events =>
                {
                    foreach (var e in events)
                    {
                        context.Out.WriteLine(ResourceFormatter.ToJsonObject(e).ToJsonString());
                    }
                    context.Out.Flush();
                };
            case OutputOption.Yaml:
                var first = true;
                return events =>
                {
                    foreach (var e in events)
                    {
                        if (!first)
                        {
                            context.Out.WriteLine("---");
                        }
                        first = false;
                        context.Out.Write(YamlWriter.ToYaml(ResourceFormatter.ToJsonObject(e)));
                    }
                    context.Out.Flush();
                };
            default:
                var table = new StreamingTable(context.Out, EventTable.Headers, EventTable.WatchWidths);
                return events => table.Write([.. events.Select(e => EventTable.Row(e, context.Now))]);
        }
    }

    /// <summary>Worth a reconnect: the server went away or is busy. Refusals (token, role, filter) are not.</summary>
    private static bool IsTransient(StatusCode code) => code is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown
        or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Cancelled;

    /// <summary>The command-line kind names (backends, be, ...) mapped to the kind events carry ("Backend").</summary>
    private static string EventKind(string? text) =>
        text is null
            ? ""
            : ApiKinds.FromCommandLine(text)?.Kind
                ?? throw new UsageException($"unknown kind \"{text}\" for --kind; expected one of {ApiKinds.CommandLineNames}");

    private static string EventType(string? text) => text?.ToLowerInvariant() switch
    {
        null => "",
        "normal" => "Normal",
        "warning" => "Warning",
        _ => throw new UsageException($"unknown type \"{text}\" for --type; expected Normal or Warning"),
    };
}
