namespace LoadBalancer.ControlPlane.Store;

/// <summary>A database file the control plane refuses to start on; the message says why and what to do.</summary>
public sealed class StoreCorruptException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What an operator does to the database as a whole: check it, back it up, restore it.</summary>
public interface IStoreMaintenance
{
    /// <summary>Makes the database's files readable by the owner only (creating an empty database if there is none).</summary>
    void EnsureOwnerOnly();

    /// <summary>Refuses (<see cref="StoreCorruptException"/>) a database that is damaged.</summary>
    Task CheckIntegrityAsync(CancellationToken cancellationToken = default);

    /// <summary>A consistent copy of the live database at <paramref name="destination"/>, which must not exist.</summary>
    Task BackupAsync(string destination, CancellationToken cancellationToken = default);

    /// <summary>Replaces the database (the control plane stopped) with a backup, under a new epoch.</summary>
    Task<RestoreResult> RestoreAsync(string backupPath, CancellationToken cancellationToken = default);
}

/// <param name="Epoch">The restored database's new epoch.</param>
/// <param name="PreviousKeptAs">Where the replaced database was kept, if there was one.</param>
/// <param name="RevocationsKept">Tokens revoked in the replaced database that stay revoked.</param>
/// <param name="RevocationWarning">Why revocations could not be carried over, if they could not.</param>
public sealed record RestoreResult(string Epoch, string? PreviousKeptAs, IReadOnlyList<string> RevocationsKept, string? RevocationWarning = null);
