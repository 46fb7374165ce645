using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace LoadBalancer.ControlPlane.Validation;

/// <summary>Collects every field violation of a request, then throws them together.</summary>
public sealed class Violations
{
    private readonly List<(string Field, string Description)> _items = [];

    public IReadOnlyList<(string Field, string Description)> Items => _items;

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

    public static RpcException ToException(IReadOnlyList<(string Field, string Description)> items)
    {
        var badRequest = new BadRequest();
        foreach (var (field, description) in items)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        }
        var message = items.Count == 1
            ? $"invalid request: {items[0].Field}: {items[0].Description}"
            : $"invalid request ({items.Count} problems): " + string.Join("; ", items.Select(i => $"{i.Field}: {i.Description}"));
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
