using Microsoft.Data.Sqlite;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>What a write moves: the revision, the audit (change log) rows, the token rows and the agent rows.</summary>
internal sealed record StoreFingerprint(long Revision, long AuditRows, long LastAuditId, long Tokens, long RevokedTokens, long Agents);

/// <summary>
/// Reads the control plane's SQLite file directly (its own connection, beside the server's),
/// so a test can fingerprint the store after every call for well under a millisecond.
/// </summary>
internal sealed class StoreProbe : IDisposable
{
    private readonly SqliteConnection _connection;

    public StoreProbe(string databasePath)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false, DefaultTimeout = 30 }.ToString());
        _connection.Open();
    }

    public StoreFingerprint Read()
    {
        using var command = _connection.CreateCommand();
        command.CommandText =
            "SELECT (SELECT Value FROM Revision WHERE Id = 1), (SELECT COUNT(*) FROM ChangeLog), (SELECT IFNULL(MAX(Id), 0) FROM ChangeLog), " +
            "(SELECT COUNT(*) FROM Tokens), (SELECT COUNT(*) FROM Tokens WHERE RevokedAt IS NOT NULL), (SELECT COUNT(*) FROM Agents)";
        using var reader = command.ExecuteReader();
        reader.Read();
        return new StoreFingerprint(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5));
    }

    public void Dispose() => _connection.Dispose();
}
