using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Resources;

/// <summary>The registry of kinds and the lookups from command-line and manifest names.</summary>
internal static class ApiKinds
{
    public static readonly ApiKind Pool = new()
    {
        Kind = "Pool",
        Singular = "pool",
        Plural = "pools",
        ShortNames = ["po"],
        Descriptor = Api.V1.Pool.Descriptor,
        ToResource = m => new Resource { Pool = (Api.V1.Pool)m },
        GetAsync = async (c, name, ct) => await c.GetPoolAsync(new GetRequest { Name = name }, cancellationToken: ct),
        ListAsync = async (c, req, ct) => (await c.ListPoolsAsync(req, cancellationToken: ct)).Items,
        DeleteAsync = async (c, req, ct) => await c.DeletePoolAsync(req, cancellationToken: ct),
    };

    public static readonly ApiKind Backend = new()
    {
        Kind = "Backend",
        Singular = "backend",
        Plural = "backends",
        ShortNames = ["be"],
        Descriptor = Api.V1.Backend.Descriptor,
        ToResource = m => new Resource { Backend = (Api.V1.Backend)m },
        GetAsync = async (c, name, ct) => await c.GetBackendAsync(new GetRequest { Name = name }, cancellationToken: ct),
        ListAsync = async (c, req, ct) => (await c.ListBackendsAsync(req, cancellationToken: ct)).Items,
        DeleteAsync = async (c, req, ct) => await c.DeleteBackendAsync(req, cancellationToken: ct),
    };

    public static readonly ApiKind Listener = new()
    {
        Kind = "Listener",
        Singular = "listener",
        Plural = "listeners",
        ShortNames = ["li"],
        Descriptor = Api.V1.Listener.Descriptor,
        ToResource = m => new Resource { Listener = (Api.V1.Listener)m },
        GetAsync = async (c, name, ct) => await c.GetListenerAsync(new GetRequest { Name = name }, cancellationToken: ct),
        ListAsync = async (c, req, ct) => (await c.ListListenersAsync(req, cancellationToken: ct)).Items,
        DeleteAsync = async (c, req, ct) => await c.DeleteListenerAsync(req, cancellationToken: ct),
    };

    public static readonly ApiKind Certificate = new()
    {
        Kind = "Certificate",
        Singular = "certificate",
        Plural = "certificates",
        ShortNames = ["cert", "certs"],
        Descriptor = Api.V1.Certificate.Descriptor,
        ToResource = m => new Resource { Certificate = (Api.V1.Certificate)m },
        GetAsync = async (c, name, ct) => await c.GetCertificateAsync(new GetRequest { Name = name }, cancellationToken: ct),
        ListAsync = async (c, req, ct) => (await c.ListCertificatesAsync(req, cancellationToken: ct)).Items,
        DeleteAsync = async (c, req, ct) => await c.DeleteCertificateAsync(req, cancellationToken: ct),
    };

    public static readonly ApiKind Agent = new()
    {
        Kind = "Agent",
        Singular = "agent",
        Plural = "agents",
        ShortNames = ["ag"],
        Descriptor = Api.V1.Agent.Descriptor,
        GetAsync = async (c, name, ct) => await c.GetAgentAsync(new GetRequest { Name = name }, cancellationToken: ct),
        ListAsync = async (c, req, ct) => (await c.ListAgentsAsync(req, cancellationToken: ct)).Items,
        DeleteAsync = async (c, req, ct) => await c.DeleteAgentAsync(req, cancellationToken: ct),
    };

    public static IReadOnlyList<ApiKind> All { get; } = [Pool, Backend, Listener, Certificate, Agent];

    /// <summary>Command-line lookup: singular, plural or short name, case-insensitive.</summary>
    public static ApiKind? FromCommandLine(string? name) =>
        name is null ? null : All.FirstOrDefault(k => k.AllNames.Contains(name, StringComparer.OrdinalIgnoreCase));

    /// <summary>Manifest lookup: the <c>kind</c> field, case-insensitive; Agent is not writable.</summary>
    public static ApiKind? FromManifestKind(string? kind) =>
        kind is null ? null : All.FirstOrDefault(k => k.CanApply && string.Equals(k.Kind, kind, StringComparison.OrdinalIgnoreCase));

    /// <summary>Unpacks the oneof of an Apply resource.</summary>
    public static (ApiKind Kind, IMessage Message) FromResource(Resource resource) => resource.KindCase switch
    {
        Resource.KindOneofCase.Pool => (Pool, resource.Pool),
        Resource.KindOneofCase.Backend => (Backend, resource.Backend),
        Resource.KindOneofCase.Listener => (Listener, resource.Listener),
        Resource.KindOneofCase.Certificate => (Certificate, resource.Certificate),
        _ => throw new ArgumentException("resource has no kind set", nameof(resource)),
    };

    /// <summary>Kind names as printed in help texts and usage errors.</summary>
    public static string CommandLineNames => string.Join(", ", All.Select(k => $"{k.Plural} ({string.Join(", ", k.ShortNames.Prepend(k.Singular))})"));

    /// <summary>Maps the kind string of an ApplyResult ("Pool", "pool") to the CLI's singular form.</summary>
    public static string SingularOf(string kind) =>
        All.FirstOrDefault(k => string.Equals(k.Kind, kind, StringComparison.OrdinalIgnoreCase)
            || k.AllNames.Contains(kind, StringComparer.OrdinalIgnoreCase))?.Singular
        ?? kind.ToLowerInvariant();
}
