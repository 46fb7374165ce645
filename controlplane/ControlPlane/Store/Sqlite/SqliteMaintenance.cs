using Microsoft.Data.Sqlite;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

/// <summary>
/// Integrity check at start-up, online backup and offline restore, all on the raw SQLite file
/// (PRAGMA integrity_check, VACUUM INTO, file renames), so nothing here goes through EF Core.
/// </summary>
public sealed class SqliteMaintenance(string databasePath) : IStoreMaintenance
{
    public void EnsureOwnerOnly() => EnsureOwnerOnly(databasePath);

    public Task CheckIntegrityAsync(CancellationToken cancellationToken = default) => CheckIntegrityAsync(databasePath, cancellationToken);

    public Task BackupAsync(string destination, CancellationToken cancellationToken = default) =>
        SqliteFailures.Guard(() => BackupAsync(databasePath, destination, cancellationToken));

    public Task<RestoreResult> RestoreAsync(string backupPath, CancellationToken cancellationToken = default) =>
        SqliteFailures.Guard(() => RestoreAsync(backupPath, databasePath, cancellationToken));

    /// <summary>
    /// Runs SQLite's integrity check. A crash leaves a WAL that SQLite replays on open; a file
    /// that is damaged anyway must stop the start (no silent reset that would lose the config).
    /// </summary>
    private static async Task CheckIntegrityAsync(string databasePath, CancellationToken cancellationToken)
    {
        if (!File.Exists(databasePath))
        {
            return;
        }
        try
        {
            await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ToString());
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check;";
            var problems = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    problems.Add(reader.GetString(0));
                }
            }
            if (problems is not ["ok"])
            {
                throw new StoreCorruptException(
                    $"the database {databasePath} failed its integrity check: {string.Join("; ", problems.Take(5))}. " +
                    "Refusing to start; restore a backup (see README, 'Backup and restore').");
            }
        }
        catch (SqliteException ex)
        {
            throw new StoreCorruptException(
                $"the database {databasePath} cannot be read ({ex.Message}). Refusing to start; restore a backup (see README, 'Backup and restore').", ex);
        }
    }

    /// <summary>
    /// A consistent copy of the live database (VACUUM INTO reads one snapshot, so writers may
    /// go on meanwhile). The key-encryption key is not in it: back up secret.key separately.
    /// </summary>
    private static async Task BackupAsync(string databasePath, string destination, CancellationToken cancellationToken)
    {
        if (!File.Exists(databasePath))
        {
            throw new FileNotFoundException($"no database at {databasePath}", databasePath);
        }
        if (File.Exists(destination))
        {
            throw new IOException($"{destination} already exists; choose a new file");
        }
        // Owner-only from its first byte (the copy holds encrypted keys and the whole
        // configuration); VACUUM INTO accepts an existing empty file. CreateNew also refuses a
        // file that appeared since the check above.
        var fullDestination = Path.GetFullPath(destination);
        CreateOwnerOnly(fullDestination).Dispose();
        try
        {
            await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "VACUUM INTO $destination;";
            command.Parameters.AddWithValue("$destination", fullDestination);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            File.Delete(fullDestination);
            throw;
        }
    }

    /// <summary>
    /// Replaces the database with a backup, with the control plane stopped: checks the backup,
    /// copies it beside the database, gives it a new epoch (its revisions start a new history,
    /// so agents take its snapshots although their revision is higher), sets the replaced file
    /// and its WAL aside (a WAL left beside the new file would be replayed into it), then renames.
    /// </summary>
    private static async Task<RestoreResult> RestoreAsync(string backupPath, string databasePath, CancellationToken cancellationToken)
    {
        if (!File.Exists(backupPath))
        {
            throw new FileNotFoundException($"no backup at {backupPath}", backupPath);
        }
        await CheckIntegrityAsync(backupPath, cancellationToken).ConfigureAwait(false);

        var staging = databasePath + ".restoring";
        File.Delete(staging);
        await using (var target = CreateOwnerOnly(staging))
        {
            await using var source = new FileStream(backupPath, FileMode.Open, FileAccess.Read, FileShare.Read);
            await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            target.Flush(flushToDisk: true);
        }

        var epoch = StoreEpoch.NewEpoch();
        await using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = staging, Pooling = false }.ToString()))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var hasEpoch = connection.CreateCommand();
            hasEpoch.CommandText = "SELECT COUNT(*) FROM pragma_table_info('Revision') WHERE name = 'Epoch';";
            // A backup from before epochs gets one from the migration at start-up instead.
            if (Convert.ToInt64(await hasEpoch.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 1)
            {
                await using var update = connection.CreateCommand();
                update.CommandText = "UPDATE Revision SET Epoch = $epoch WHERE Id = 1;";
                update.Parameters.AddWithValue("$epoch", epoch);
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // A backup predates revocations made since: without this, a revoked (perhaps leaked) token
        // would work again after the restore.
        var (kept, warning) = File.Exists(databasePath)
            ? await CarryRevocationsAsync(databasePath, staging, cancellationToken).ConfigureAwait(false)
            : ([], null);

        string? keptAs = null;
        if (File.Exists(databasePath))
        {
            keptAs = $"{databasePath}.replaced-{DateTime.UtcNow:yyyyMMddTHHmmssZ}";
            File.Move(databasePath, keptAs);
            if (File.Exists(databasePath + "-wal"))
            {
                File.Move(databasePath + "-wal", keptAs + "-wal");
            }
        }
        File.Delete(databasePath + "-wal");
        File.Delete(databasePath + "-shm");
        File.Move(staging, databasePath);
        EnsureOwnerOnly(databasePath);
        return new RestoreResult(epoch, keptAs, kept, warning);
    }

    /// <summary>
    /// Revokes in <paramref name="staging"/> every token that the current database has revoked,
    /// each with its audit row (who revoked it, when, from where), so the restored history still
    /// says why the token no longer works. Returns the ids revoked that way.
    /// </summary>
    private static async Task<(IReadOnlyList<string> Kept, string? Warning)> CarryRevocationsAsync(string current, string staging, CancellationToken cancellationToken)
    {
        var revoked = new List<Revocation>();
        try
        {
            await using var source = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = current, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
            await source.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (!await HasTableAsync(source, "Tokens", cancellationToken).ConfigureAwait(false))
            {
                return ([], null);
            }
            await using var read = source.CreateCommand();
            // At most one revoke row per token: a second revocation changes nothing and writes nothing.
            read.CommandText = "SELECT t.Id, t.RevokedAt, c.At, c.ActorTokenId, c.ActorRole, c.Peer FROM Tokens t " +
                "LEFT JOIN ChangeLog c ON c.Kind = 'Token' AND c.Name = t.Id AND c.Operation = 'revoke' WHERE t.RevokedAt IS NOT NULL ORDER BY t.Id;";
            await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Times as stored (the text EF Core wrote, the same format in the backup).
                revoked.Add(new Revocation(
                    reader.GetString(0),
                    reader.GetValue(1),
                    reader.IsDBNull(2) ? reader.GetValue(1) : reader.GetValue(2),
                    reader.IsDBNull(3) ? "" : reader.GetString(3),
                    reader.IsDBNull(4) ? "" : reader.GetString(4),
                    reader.IsDBNull(5) ? "" : reader.GetString(5)));
            }
        }
        catch (SqliteException ex)
        {
            return ([], $"the replaced database cannot be read ({ex.Message}), so tokens revoked since the backup may be valid again: list them (lbctl token list) and revoke again any that should not be");
        }

        var kept = new List<string>();
        await using var target = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = staging, Pooling = false }.ToString());
        await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        // A backup from before tokens existed has none that could come back.
        if (revoked.Count == 0 || !await HasTableAsync(target, "Tokens", cancellationToken).ConfigureAwait(false))
        {
            return ([], null);
        }
        await using var transaction = (SqliteTransaction)await target.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var revocation in revoked)
        {
            await using var update = target.CreateCommand();
            update.Transaction = transaction;
            update.CommandText = "UPDATE Tokens SET RevokedAt = $at WHERE Id = $id AND RevokedAt IS NULL;";
            update.Parameters.AddWithValue("$at", revocation.RevokedAt);
            update.Parameters.AddWithValue("$id", revocation.Id);
            if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                // Revoked in the backup already, or created after it (then absent, and gone with the restore).
                continue;
            }
            await using var audit = target.CreateCommand();
            audit.Transaction = transaction;
            audit.CommandText = "INSERT INTO ChangeLog (Revision, Kind, Name, Operation, At, ActorTokenId, ActorRole, Peer, OldResourceVersion, NewResourceVersion) " +
                "VALUES (0, 'Token', $id, 'revoke', $at, $actor, $role, $peer, 0, 0);";
            audit.Parameters.AddWithValue("$id", revocation.Id);
            audit.Parameters.AddWithValue("$at", revocation.AuditAt);
            audit.Parameters.AddWithValue("$actor", revocation.ActorTokenId);
            audit.Parameters.AddWithValue("$role", revocation.ActorRole);
            audit.Parameters.AddWithValue("$peer", revocation.Peer);
            await audit.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            kept.Add(revocation.Id);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (kept, null);
    }

    private sealed record Revocation(string Id, object RevokedAt, object AuditAt, string ActorTokenId, string ActorRole, string Peer);

    private static async Task<bool> HasTableAsync(SqliteConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $name;";
        command.Parameters.AddWithValue("$name", table);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    /// <summary>
    /// The database, its WAL and its shared-memory file readable by the owner only, whatever the
    /// umask was when they were made (SQLite gives the WAL and SHM the database file's mode, so
    /// the database is created 0600 before SQLite first opens it).
    /// </summary>
    private static void EnsureOwnerOnly(string databasePath)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (!File.Exists(databasePath))
        {
            // An empty file is a valid empty SQLite database.
            new FileStream(databasePath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }).Dispose();
        }
        foreach (var path in new[] { databasePath, databasePath + "-wal", databasePath + "-shm" })
        {
            if (File.Exists(path) && File.GetUnixFileMode(path) != OwnerOnly)
            {
                File.SetUnixFileMode(path, OwnerOnly);
            }
        }
    }

    private static FileStream CreateOwnerOnly(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        return new FileStream(path, options);
    }
}
