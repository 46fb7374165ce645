using LoadBalancer.ControlPlane.History;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.History;

namespace LoadBalancer.ControlPlane.Tests.History;

public sealed class RevisionDifferTests
{
    private static ResourceHistoryEntity Row(string kind, string name, string spec = "{}", string labels = "{}", byte[]? sealedBytes = null) =>
        new() { Kind = kind, Name = name, SpecJson = spec, LabelsJson = labels, Sealed = sealedBytes ?? [] };

    [Fact]
    public void Diff_NamesAddedRemovedAndChanged_InDependencyOrder_AndSkipsTheUnchanged()
    {
        var before = new[] { Row("Listener", "web", "{\"port\":80}"), Row("Pool", "old"), Row("Backend", "same") };
        var after = new[] { Row("Listener", "web", "{\"port\":81}"), Row("Pool", "new"), Row("Backend", "same"), Row("Certificate", "tls") };

        var changes = RevisionDiffer.Diff(before, after);

        Assert.Equal(
            ["Certificate/tls added", "Pool/new added", "Pool/old removed", "Listener/web changed"],
            changes.Select(c => $"{c.Kind}/{c.Name} {c.Change}"));
    }

    [Fact]
    public void Diff_LabelsAndSealedSecretsCount()
    {
        var changes = RevisionDiffer.Diff(
            [Row("Pool", "a", labels: "{\"x\":\"1\"}"), Row("Certificate", "c", sealedBytes: [1, 2])],
            [Row("Pool", "a", labels: "{\"x\":\"2\"}"), Row("Certificate", "c", sealedBytes: [1, 3])]);
        Assert.Equal([ResourceKind.Certificate, ResourceKind.Pool], changes.Select(c => c.Kind));
        Assert.All(changes, c => Assert.Equal(RowChange.Changed, c.Change));
    }

    [Fact]
    public void RevisionArguments_SayWhatExistsAndWhatWasCompacted()
    {
        var violations = new ControlPlane.Validation.Violations();
        RevisionArguments.Check("to", 12, 400, 340, violations);
        RevisionArguments.Check("from", 401, 400, 340, violations);
        RevisionArguments.Check("revision", -1, 400, 340, violations);
        RevisionArguments.Check("ok", 340, 400, 340, violations);
        Assert.Equal(
            ["to: revision 12 was compacted; oldest kept is 340", "from: revision 401 does not exist; the current revision is 400", "revision: must not be negative"],
            violations.Items.Select(v => $"{v.Field}: {v.Description}"));
    }
}
