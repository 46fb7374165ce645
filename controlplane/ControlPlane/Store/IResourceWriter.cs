using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>
/// The one write path of the resources: each call is one serialised transaction that validates
/// against the store as the write would leave it, appends the change log, bumps the revision
/// and then notifies <see cref="StoreChangeFeed"/>; a refusal changes nothing.
/// </summary>
public interface IResourceWriter
{
    Task<WriteResult> CreateAsync(Resource resource, bool dryRun, Caller caller, CancellationToken cancellationToken = default);

    Task<WriteResult> UpdateAsync(Resource resource, bool dryRun, Caller caller, CancellationToken cancellationToken = default);

    /// <summary>Creates or updates all <paramref name="resources"/> in one transaction with at most one revision bump.</summary>
    Task<WriteResult> ApplyAsync(IReadOnlyList<Resource> resources, bool dryRun, Caller caller, CancellationToken cancellationToken = default);

    /// <summary>Deletes one resource unless something still uses it; <paramref name="resourceVersion"/> 0 skips the version check. Returns the revision.</summary>
    Task<long> DeleteAsync(ResourceKind kind, string name, long resourceVersion, bool dryRun, Caller caller, CancellationToken cancellationToken = default);

    /// <summary>A certificate's private key for an admin, audited before it is returned.</summary>
    Task<(string PrivateKeyPem, string Fingerprint)> ExportPrivateKeyAsync(string name, Caller caller, CancellationToken cancellationToken = default);

    /// <summary>One audit row at the current revision for an act that changes no resource.</summary>
    Task AuditAsync(Caller caller, string kind, string name, string operation, CancellationToken cancellationToken = default);
}
