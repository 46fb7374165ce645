using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Export;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Diff;

/// <summary>
/// What applying one manifest resource would change, as text: nothing when unchanged,
/// <c>+ kind/name (new)</c> and its lines prefixed <c>+</c> when new, <c>~ kind/name</c> and a
/// unified line diff of the manifest form (labels and spec) when changed. Private keys are
/// never printed.
/// </summary>
internal static class ResourceDiff
{
    public const string KeyChanged = "<changed>";
    public const string KeyNotShown = "<not shown>";

    /// <param name="desired">The manifest's message, as the reader built it.</param>
    /// <param name="current">The server's resource, or null when it does not exist.</param>
    public static IReadOnlyList<string> Lines(ApiKind kind, IMessage desired, IMessage? current)
    {
        desired = ServerNormalization.Normalize(desired);
        if (current is not null)
        {
            (desired, current) = ServerNormalization.WithoutDefaults(desired, current);
        }
        var name = ApiKind.NameOf(desired);
        var desiredDocument = ManifestProjection.ToDocument(kind, desired);
        var hasKey = desired is Certificate { Spec.PrivateKeyPem.Length: > 0 };
        ShowCertificatesOnly(desiredDocument);

        if (current is null)
        {
            if (hasKey)
            {
                SetKeyPlaceholder(desiredDocument, KeyNotShown);
            }
            return [$"+ {kind.Ref(name)} (new)", .. YamlLines(desiredDocument).Select(l => "+" + l)];
        }

        var oldLines = YamlLines(ManifestProjection.ToDocument(kind, current));
        var newLines = YamlLines(desiredDocument);
        if (oldLines.SequenceEqual(newLines, StringComparer.Ordinal))
        {
            // Same certificatePem: a key given with it must belong to the same public key (the
            // server checks), so the certificate stays as it is. Keys are never read back.
            return [];
        }
        if (hasKey)
        {
            SetKeyPlaceholder(desiredDocument, KeyChanged);
            newLines = YamlLines(desiredDocument);
        }
        return [$"~ {kind.Ref(name)}", .. LineDiff.Unified(oldLines, newLines)];
    }

    /// <summary>Stands for whatever a certificatePem held besides certificates (a key in a combined file, say).</summary>
    public const string OtherPemNotShown = "# other content not shown";

    private static readonly System.Text.RegularExpressions.Regex CertificateBlock = new(
        "-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\\s]*?-----END CERTIFICATE-----", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// A manifest's certificatePem is printed only as its certificate blocks: a combined
    /// certificate-and-key file, or any other text, would otherwise reach the terminal or a CI log.
    /// </summary>
    private static void ShowCertificatesOnly(JsonObject document)
    {
        if (document["spec"] is not JsonObject spec || spec["certificatePem"]?.GetValue<string>() is not { } pem)
        {
            return;
        }
        var blocks = CertificateBlock.Matches(pem).Select(m => m.Value).ToList();
        var rest = CertificateBlock.Replace(pem, "");
        if (!string.IsNullOrWhiteSpace(rest))
        {
            blocks.Add(OtherPemNotShown);
            spec["certificatePem"] = string.Join("\n", blocks) + "\n";
        }
    }

    private static void SetKeyPlaceholder(JsonObject document, string placeholder)
    {
        if (document["spec"] is not JsonObject spec)
        {
            document["spec"] = spec = new JsonObject();
        }
        spec["privateKeyPem"] = placeholder;
    }

    private static string[] YamlLines(JsonObject document) =>
        LineDiff.SplitLines(YamlWriter.ToYaml(document));
}
