using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>Events over gRPC: a thin adapter to <see cref="EventReader"/>.</summary>
public sealed class EventsService(EventReader reader, TokenService tokens, IHostApplicationLifetime lifetime) : Api.V1.Events.EventsBase
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;

    public override async Task<EventList> ListEvents(ListEventsRequest request, ServerCallContext context)
    {
        var violations = new Violations();
        var filter = EventFilter.Parse(request.Kind, request.Name, request.Agent, request.Type, violations);
        if (request.Limit is < 0 or > MaxLimit)
        {
            violations.Add("limit", $"must be from 0 (default {DefaultLimit}) to {MaxLimit}");
        }
        CheckAfterId(request.AfterId, violations);
        violations.ThrowIfAny();
        var rows = await reader.ListAsync(filter, request.AfterId, request.Limit == 0 ? DefaultLimit : request.Limit, context.CancellationToken).ConfigureAwait(false);
        var list = new EventList();
        list.Items.AddRange(rows.Select(EventFilter.ToProto));
        return list;
    }

    public override async Task WatchEvents(WatchEventsRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        var violations = new Violations();
        var filter = EventFilter.Parse(request.Kind, request.Name, request.Agent, request.Type, violations);
        CheckAfterId(request.AfterId, violations);
        violations.ThrowIfAny();
        var caller = Caller.Of(context);
        // Ends the stream when the token is revoked or expires, and when the server stops
        // (clients resume after the last id they saw).
        using var tokenWatch = tokens.Watch(caller, context.CancellationToken);
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(tokenWatch.Token, lifetime.ApplicationStopping);
        try
        {
            await foreach (var row in reader.FollowAsync(filter, request.AfterId, stream.Token).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(EventFilter.ToProto(row), stream.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stream.IsCancellationRequested)
        {
            // The client left, the token stopped working, or the server is stopping.
        }
        if (!context.CancellationToken.IsCancellationRequested && !tokens.IsUsable(caller.TokenId))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"token {caller.TokenId} was revoked or expired"));
        }
    }

    private static void CheckAfterId(long afterId, Violations violations)
    {
        if (afterId < 0)
        {
            violations.Add("afterId", "must not be negative");
        }
    }
}
