using Google.Protobuf;
using Google.Protobuf.Reflection;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Resources;

/// <summary>
/// One kind of the lb/v1 API as the CLI sees it: its names on the command line and the
/// management calls that read, list and delete it. Kinds differ only in these delegates,
/// so every verb is written once against this type.
/// </summary>
internal sealed class ApiKind
{
    public required string Kind { get; init; }
    public required string Singular { get; init; }
    public required string Plural { get; init; }
    public required IReadOnlyList<string> ShortNames { get; init; }
    public required MessageDescriptor Descriptor { get; init; }

    /// <summary>Wraps a message of this kind for Apply; null for kinds the server owns (Agent).</summary>
    public Func<IMessage, Resource>? ToResource { get; init; }

    public required Func<Management.ManagementClient, string, CancellationToken, Task<IMessage>> GetAsync { get; init; }
    public required Func<Management.ManagementClient, ListRequest, CancellationToken, Task<IReadOnlyList<IMessage>>> ListAsync { get; init; }
    public required Func<Management.ManagementClient, DeleteRequest, CancellationToken, Task<DeleteResponse>> DeleteAsync { get; init; }

    public bool CanApply => ToResource is not null;

    public IEnumerable<string> AllNames => new[] { Singular, Plural }.Concat(ShortNames);

    /// <summary>"pool/web": the reference format used in every line the CLI prints.</summary>
    public string Ref(string name) => $"{Singular}/{name}";

    public static ObjectMeta MetadataOf(IMessage message)
    {
        var field = message.Descriptor.FindFieldByName("metadata")
            ?? throw new InvalidOperationException($"{message.Descriptor.Name} has no metadata");
        return field.Accessor.GetValue(message) as ObjectMeta ?? new ObjectMeta();
    }

    public static string NameOf(IMessage message) => MetadataOf(message).Name;
}
