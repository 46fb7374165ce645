using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>Collects every field violation of a request, then throws them together.</summary>
public sealed class Violations
{
    private readonly List<(string Field, string Description)> _items = [];
    private readonly List<string> _warnings = [];

    public IReadOnlyList<(string Field, string Description)> Items => _items;

    /// <summary>What was accepted but deserves the writer's attention (sent back as lb-warning headers).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    public void Warn(string field, string description) => _warnings.Add($"{field}: {description}");

    public bool HasAny => _items.Count > 0;

    public void Add(string field, string description) => _items.Add((field, description));

    /// <summary>Throws INVALID_ARGUMENT with google.rpc.BadRequest details when anything was collected.</summary>
    public void ThrowIfAny()
    {
        if (_items.Count > 0)
        {
            throw ToException(_items);
        }
    }

    /// <summary>At most this many violations travel back: trailers must stay well under HTTP/2 header limits.</summary>
    public const int MaxReported = 50;

    private const int MaxMessageChars = 4000;

    public static RpcException ToException(IReadOnlyList<(string Field, string Description)> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var reported = items.Take(MaxReported).ToList();
        var badRequest = new BadRequest();
        foreach (var (field, description) in reported)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        }
        if (items.Count > reported.Count)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = "(more)", Description = $"{items.Count - reported.Count} more problems not listed; fix these first" });
        }
        var message = items.Count == 1
            ? $"invalid request: {items[0].Field}: {items[0].Description}"
            : $"invalid request ({items.Count} problems): " + string.Join("; ", reported.Select(i => $"{i.Field}: {i.Description}"));
        if (message.Length > MaxMessageChars)
        {
            message = message[..MaxMessageChars] + "...";
        }
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = message,
            Details = { Any.Pack(badRequest) },
        };
        return status.ToRpcException();
    }

    public static RpcException Single(string field, string description) => ToException([(field, description)]);
}
