using System.Globalization;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Output;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Get;

/// <summary>The columns of <c>lbctl get KIND</c>, per kind.</summary>
internal static class ResourceTables
{
    public static IReadOnlyList<string> Headers(ApiKind kind) => kind.Kind switch
    {
        // HEALTHY/TOTAL says what the fraction is: backends seen healthy (by the worst tier) over all backends.
        "Pool" => ["NAME", "PROTOCOL", "ALGORITHM", "HEALTHY/TOTAL", "AGE"],
        "Backend" => ["NAME", "POOL", "ADDRESS", "WEIGHT", "STATE", "HEALTH", "IN-FLIGHT", "AGE"],
        "Listener" => ["NAME", "TIER", "PORT", "PROTOCOL", "ROUTES", "PROGRAMMED", "AGE"],
        "Certificate" => ["NAME", "DNS-NAMES", "NOT-AFTER", "DAYS-LEFT", "FINGERPRINT", "AGE"],
        "Agent" => ["NAME", "TIER", "CONNECTED", "REVISION", "LAST-SEEN", "STATUS", "LAST-NACK"],
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind.Kind, "no table for this kind"),
    };

    public static IReadOnlyList<string> Row(IMessage message, DateTimeOffset now) => message switch
    {
        Pool p => [p.Metadata?.Name ?? "", Or(p.Spec?.Protocol), Or(p.Spec?.Algorithm), PoolBackends(p.Status), Age.Since(p.Metadata?.CreatedAt, now)],
        Backend b =>
        [
            b.Metadata?.Name ?? "", Or(b.Spec?.Pool), Or(b.Spec?.Address), Weight(b.Spec), BackendState(b.Spec),
            BackendHealth(b.Status), Number(b.Status?.InFlight ?? 0), Age.Since(b.Metadata?.CreatedAt, now),
        ],
        Listener l =>
        [
            l.Metadata?.Name ?? "", Or(l.Spec?.Tier), l.Spec is { Port: > 0 } s ? Number(s.Port) : "-", Or(l.Spec?.Protocol),
            Routes(l.Spec), l.Status is { } ls ? $"{ls.AgentsProgrammed}/{ls.AgentsTotal}" : "0/0", Age.Since(l.Metadata?.CreatedAt, now),
        ],
        Certificate c =>
        [
            c.Metadata?.Name ?? "", c.Status is { DnsNames.Count: > 0 } cs ? string.Join(",", cs.DnsNames) : "-",
            c.Status?.NotAfter is { } na ? na.ToDateTimeOffset().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "-",
            DaysLeft(c.Status, now), ShortFingerprint(c.Status?.FingerprintSha256), Age.Since(c.Metadata?.CreatedAt, now),
        ],
        Agent a =>
        [
            a.Metadata?.Name ?? "", Or(a.Spec?.Tier), a.Status?.Connected == true ? "true" : "false",
            Number(a.Status?.AppliedRevision ?? 0), a.Status?.LastSeen is { } seen ? Age.Since(seen, now) : "never",
            AgentPhase(a.Status), Truncate(Or(a.Status?.LastNackError), 60),
        ],
        _ => throw new ArgumentOutOfRangeException(nameof(message), message.Descriptor.Name, "no table for this kind"),
    };

    /// <summary>Ready / Degraded / NotReady from the server, Disconnected when the stream is gone.</summary>
    public static string AgentPhase(AgentStatus? status) => status switch
    {
        null or { Connected: false } => "Disconnected",
        { Phase.Length: > 0 } => status.Phase,
        _ => "Ready",
    };

    /// <summary>"healthy/total" for the worst tier, since a pool is only as good as its least healthy view;
    /// "-/total" while no agent reports on the pool's backends (health unknown, not zero).</summary>
    private static string PoolBackends(PoolStatus? status)
    {
        if (status is null)
        {
            return "-";
        }
        if (status.Tiers.Count == 0)
        {
            return $"-/{Number(status.BackendsTotal)}";
        }
        var worst = status.Tiers.MinBy(t => t.Healthy)!;
        return $"{worst.Healthy}/{status.BackendsTotal}";
    }

    private static string Routes(ListenerSpec? spec) => spec switch
    {
        null => "-",
        { Routes.Count: > 0 } => Number(spec.Routes.Count),
        { Pool.Length: > 0 } => $"pool {spec.Pool}",
        _ => "0",
    };

    private static string Weight(BackendSpec? spec) => spec is { HasWeight: true } ? Number(spec.Weight) : "1";

    private static string BackendState(BackendSpec? spec) => Or(spec?.State, "enabled");

    private static string DaysLeft(CertificateStatus? status, DateTimeOffset now) =>
        status?.NotAfter is { } notAfter
            ? Number((long)Math.Floor((notAfter.ToDateTimeOffset() - now).TotalDays))
            : "-";

    /// <summary>The first 8 bytes, as git abbreviates hashes; describe and -o json show all of it.</summary>
    public static string ShortFingerprint(string? fingerprint)
    {
        if (string.IsNullOrEmpty(fingerprint))
        {
            return "-";
        }
        var hex = fingerprint.Replace(":", "", StringComparison.Ordinal);
        return hex.Length > 16 ? hex[..16].ToLowerInvariant() : hex.ToLowerInvariant();
    }

    private static string Or(string? value, string fallback = "-") => string.IsNullOrEmpty(value) ? fallback : value;

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..(max - 3)] + "...";

    /// <summary>"healthy 2/2": the aggregate and how many of the reporting agents see it healthy.</summary>
    private static string BackendHealth(BackendStatus? status) =>
        status is { ReportingAgents: > 0 }
            ? $"{Or(status.Health, "unknown")} {status.HealthyAgents}/{status.ReportingAgents}"
            : Or(status?.Health, "unknown");
}
