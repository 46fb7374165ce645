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
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "VACUUM INTO $destination;";
        command.Parameters.AddWithValue("$destination", Path.GetFullPath(destination));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            // The copy holds encrypted keys and the whole configuration: owner only.
            File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
