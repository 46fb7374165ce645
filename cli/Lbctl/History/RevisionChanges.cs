using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Diff;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;
using LoadBalancer.Cli.Export;

namespace LoadBalancer.Cli.History;

/// <summary>
/// Changes between two revisions as diff text, in the form <c>lbctl diff -f</c> prints:
/// <c>+ kind/name (new)</c>, <c>~ kind/name</c> with a line diff, and <c>- kind/name (removed)</c>
/// with its lines prefixed <c>-</c>. Private keys are never in them (the server never sends one).
/// </summary>
internal static class RevisionChanges
{
    public static IEnumerable<string> Lines(IEnumerable<ResourceChange> changes)
    {
        foreach (var change in changes)
        {
            var after = change.After is null ? default : ApiKinds.FromResource(change.After);
            var before = change.Before is null ? default : ApiKinds.FromResource(change.Before);
            if (change.After is null)
            {
                var document = ManifestProjection.ToDocument(before.Kind, before.Message);
                yield return $"- {before.Kind.Ref(change.Name)} (removed)";
                foreach (var line in LineDiff.SplitLines(YamlWriter.ToYaml(document)))
                {
                    yield return "-" + line;
                }
                continue;
            }
            foreach (var line in ResourceDiff.Lines(after.Kind, after.Message, change.Before is null ? null : before.Message))
            {
                yield return line;
            }
        }
    }
}
