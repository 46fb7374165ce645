using LoadBalancer.ControlPlane.Access;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>API tokens' rows (hashes only, never a secret), each change with its audit entry.</summary>
public interface ITokenStore
{
    Task<IReadOnlyList<TokenEntity>> ListAsync(CancellationToken cancellationToken = default);

    Task<TokenEntity?> FindAsync(string id, CancellationToken cancellationToken = default);

    Task AddAsync(TokenEntity token, Caller creator, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks the token revoked at <paramref name="at"/> (Changed); a token revoked already is
    /// returned unchanged; Token is null when there is none.
    /// </summary>
    Task<(TokenEntity? Token, bool Changed)> RevokeAsync(string id, DateTime at, Caller caller, CancellationToken cancellationToken = default);

    /// <summary>Writes the last-use times that moved by at least <paramref name="resolution"/>.</summary>
    Task SaveLastUsedAsync(IReadOnlyDictionary<string, DateTime> lastUsed, TimeSpan resolution, CancellationToken cancellationToken = default);
}

/// <summary>The change log read as the audit log.</summary>
public interface IAuditLogReader
{
    /// <summary>Newest first; an empty <paramref name="kind"/> or <paramref name="name"/>, or 0 for <paramref name="beforeId"/>, does not filter.</summary>
    Task<IReadOnlyList<ChangeLogEntry>> ListAsync(string kind, string name, long beforeId, int limit, CancellationToken cancellationToken = default);
}
