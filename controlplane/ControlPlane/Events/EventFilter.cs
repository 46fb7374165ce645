using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Events;

/// <summary>The filters shared by ListEvents and WatchEvents, validated and normalized once.</summary>
public sealed record EventFilter(string Kind, string Name, string Agent, string Type)
{
    public static EventFilter Parse(string kind, string name, string agent, string type, Violations violations)
    {
        ArgumentNullException.ThrowIfNull(violations);
        var normalizedKind = EventKinds.All.FirstOrDefault(k => string.Equals(k, kind.Trim(), StringComparison.OrdinalIgnoreCase));
        if (kind.Trim().Length > 0 && normalizedKind is null)
        {
            violations.Add("kind", $"'{SpecValidator.Clip(kind)}' is not one of {string.Join(", ", EventKinds.All)}");
        }
        string[] types = [EventTypes.Normal, EventTypes.Warning];
        var normalizedType = types.FirstOrDefault(t => string.Equals(t, type.Trim(), StringComparison.OrdinalIgnoreCase));
        if (type.Trim().Length > 0 && normalizedType is null)
        {
            violations.Add("type", $"'{SpecValidator.Clip(type)}' is not Normal or Warning");
        }
        // Names are stored lowercase, as every write lowercases them.
        return new EventFilter(normalizedKind ?? "", name.Trim().ToLowerInvariant(), agent.Trim().ToLowerInvariant(), normalizedType ?? "");
    }

    public static Event ToProto(EventEntity row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return new Event
        {
            Id = row.Id,
            At = Timestamp.FromDateTime(row.LastAt),
            Type = row.Type,
            Reason = row.Reason,
            Kind = row.Kind,
            Name = row.Name,
            Agent = row.Agent,
            Message = row.Message,
            Count = row.Count,
            FirstAt = Timestamp.FromDateTime(row.FirstAt),
            LastAt = Timestamp.FromDateTime(row.LastAt),
        };
    }
}
