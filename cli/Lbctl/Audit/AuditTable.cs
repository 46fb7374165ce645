using System.Globalization;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Audit;

/// <summary>The audit table: one row per change.</summary>
internal static class AuditTable
{
    public const string TokenKind = "Token";

    public static readonly IReadOnlyList<string> Headers = ["TIME", "WHO", "ACTION", "KIND", "NAME", "VERSION", "REVISION", "PEER"];

    public static IReadOnlyList<string> Row(AuditEntry entry) =>
    [
        // Absolute and in UTC: an audit trail is matched against other logs, not read as "5m ago".
        entry.At is null ? "-" : entry.At.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        Who(entry),
        entry.Action,
        entry.Kind,
        entry.Name,
        Version(entry),
        entry.Revision == 0 ? "" : entry.Revision.ToString(CultureInfo.InvariantCulture),
        entry.Peer.Length == 0 ? "-" : entry.Peer,
    ];

    /// <summary>"t-3f9a1c0b7d2e (admin)".</summary>
    public static string Who(AuditEntry entry) => (entry.TokenId, entry.Role) switch
    {
        ("", _) => "-",
        (var id, "") => id,
        var (id, role) => $"{id} ({role})",
    };

    /// <summary>"4 -> 5"; "- -> 5" on create, "4 -> -" on delete; empty for tokens, which have no resourceVersion.</summary>
    public static string Version(AuditEntry entry)
    {
        if (entry.Kind == TokenKind || (entry.OldResourceVersion == 0 && entry.NewResourceVersion == 0))
        {
            return "";
        }
        return $"{Number(entry.OldResourceVersion)} -> {Number(entry.NewResourceVersion)}";
    }

    private static string Number(long version) => version == 0 ? "-" : version.ToString(CultureInfo.InvariantCulture);
}
