using System.Text.Json;
using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Snapshots;

/// <summary>A tier snapshot as indented JSON for people (diffs, lbctl), with every secret left out.</summary>
public static class SnapshotJson
{
    private const string Placeholder = "(redacted)";
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Redacted(SnapshotData snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var copy = snapshot.Clone();
        foreach (var certificate in copy.Certificates)
        {
            certificate.PrivateKeyPem = certificate.PrivateKeyPem.Length > 0 ? Placeholder : "";
        }
        foreach (var pool in copy.Pools)
        {
            if (pool.SessionPersistence is { } persistence)
            {
                // Bytes would show as base64 of any placeholder; leaving the field out says it plainly.
                persistence.HmacKey = ByteString.Empty;
            }
        }
        using var document = JsonDocument.Parse(Formatter.Format(copy));
        return JsonSerializer.Serialize(document.RootElement, Indented) + "\n";
    }
}
