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

    /// <summary>Throws a <see cref="ValidationException"/> when anything was collected.</summary>
    public void ThrowIfAny()
    {
        if (_items.Count > 0)
        {
            throw ToException(_items);
        }
    }

    /// <summary>At most this many violations travel back: trailers must stay well under HTTP/2 header limits.</summary>
    public const int MaxReported = 50;

    public static ValidationException ToException(IReadOnlyList<(string Field, string Description)> items) => new(items);

    public static ValidationException Single(string field, string description) => ToException([(field, description)]);
}

/// <summary>
/// A request that breaks field rules: every violation, and a message that lists the first
/// <see cref="Violations.MaxReported"/>. The API edge sends it as INVALID_ARGUMENT with
/// google.rpc.BadRequest details.
/// </summary>
public sealed class ValidationException : Exception
{
    private const int MaxMessageChars = 4000;

    public ValidationException(IReadOnlyList<(string Field, string Description)> items)
        : base(MessageOf(items ?? throw new ArgumentNullException(nameof(items))))
    {
        Items = [.. items];
    }

    public IReadOnlyList<(string Field, string Description)> Items { get; }

    private static string MessageOf(IReadOnlyList<(string Field, string Description)> items)
    {
        var reported = items.Take(Violations.MaxReported).ToList();
        var message = items.Count == 1
            ? $"invalid request: {items[0].Field}: {items[0].Description}"
            : $"invalid request ({items.Count} problems): " + string.Join("; ", reported.Select(i => $"{i.Field}: {i.Description}"));
        return message.Length > MaxMessageChars ? message[..MaxMessageChars] + "..." : message;
    }
}
