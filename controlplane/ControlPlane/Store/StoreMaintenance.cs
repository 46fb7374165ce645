using Microsoft.Data.Sqlite;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>A database file the control plane refuses to start on; the message says why and what to do.</summary>
public sealed class StoreCorruptException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Integrity check at start-up and online backup, both on the raw SQLite file.</summary>
public static class StoreMaintenance
{
    /// <summary>
    /// Runs SQLite's integrity check. A crash leaves a WAL that SQLite replays on open; a file
    /// that is damaged anyway must stop the start (no silent reset that would lose the config).
    /// </summary>
    public static async Task CheckIntegrityAsync(string databasePath, CancellationToken cancellationToken = default)
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
    public static async Task BackupAsync(string databasePath, string destination, CancellationToken cancellationToken = default)
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

    /// <summary>What a restore did: the new database epoch and where the replaced file went, if there was one.</summary>
    public sealed record RestoreResult(string Epoch, string? PreviousKeptAs);

    /// <summary>
    /// Replaces the database with a backup, with the control plane stopped: checks the backup,
    /// copies it beside the database, gives it a new epoch (its revisions start a new history,
    /// so agents take its snapshots although their revision is higher), sets the replaced file
    /// and its WAL aside (a WAL left beside the new file would be replayed into it), then renames.
    /// </summary>
    public static async Task<RestoreResult> RestoreAsync(string backupPath, string databasePath, CancellationToken cancellationToken = default)
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
        return new RestoreResult(epoch, keptAs);
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
