using System.Diagnostics;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Deploy;

/// <summary>
/// Issue 10, deployment per tier: the Kubernetes manifests in deploy/kubernetes parse and every
/// name they reference exists; the systemd units in deploy/systemd are complete and start the
/// executables with flags they accept. Each check is also run on a deliberately broken copy to
/// show it can fail.
/// </summary>
public sealed class DeploymentManifestTests
{
    private static readonly string[] Tiers = ["edge", "internal", "data"];
    private static readonly string[] AgentRequired = ["--control-plane", "--tier", "--token-file", "--ca-file", "--cache", "--admin", "--bind"];
    private static readonly string[] ControlPlaneRequired = ["--data", "--listen"];

    private static string Root { get; } = FindRoot();

    private static string KubernetesDir => Path.Combine(Root, "deploy", "kubernetes");

    private static string SystemdDir => Path.Combine(Root, "deploy", "systemd");

    [Fact]
    public void Kubernetes_EveryListedFileExistsAndParses_AndEveryReferencedNameExists()
    {
        var problems = new List<string>();
        var documents = LoadRepositoryManifests(problems);
        problems.AddRange(ManifestChecker.CheckReferences(documents));
        problems.AddRange(ManifestChecker.CheckContainerFlags(documents));
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        // What the brief asks for is there at all (so that an empty kustomization cannot pass).
        var kinds = documents.Select(d => $"{d.Kind}/{d.Name}").ToHashSet();
        Assert.Contains("Namespace/lb-system", kinds);
        Assert.Contains("StatefulSet/lb-controlplane", kinds);
        Assert.Contains("Service/lb-controlplane", kinds);
        foreach (var tier in Tiers)
        {
            Assert.Contains($"Deployment/lb-agent-{tier}", kinds);
            Assert.Contains($"Service/lb-agent-{tier}", kinds);
            Assert.Contains($"Secret/lb-agent-token-{tier}", kinds);
        }
        Assert.Contains("Secret/lb-controlplane-ca", kinds);
        Assert.Equal("LoadBalancer", ManifestChecker.Str(Find(documents, "Service", "lb-agent-edge").Root, "spec", "type"));
        Assert.Single(ManifestChecker.Seq(Find(documents, "StatefulSet", "lb-controlplane").Root, "spec", "volumeClaimTemplates"));
    }

    [Fact]
    public void Kubernetes_EachTierHasAnAgentDeployment()
    {
        var problems = new List<string>();
        var documents = LoadRepositoryManifests(problems);
        problems.AddRange(ManifestChecker.CheckTiers(documents, Tiers));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Systemd_UnitsHaveTheirSections_AndStartTheExecutablesWithAcceptedFlags()
    {
        var problems = new List<string>();
        problems.AddRange(ManifestChecker.CheckUnit("lb-controlplane.service", ReadSystemd("lb-controlplane.service"), "lb-controlplane", ManifestChecker.ControlPlaneFlags, ControlPlaneRequired));
        var agentUnit = ReadSystemd("lb-agent@.service");
        problems.AddRange(ManifestChecker.CheckUnit("lb-agent@.service", agentUnit, "lb-agent", ManifestChecker.AgentFlags, AgentRequired));
        problems.AddRange(ManifestChecker.CheckEnvironmentFile(ReadSystemd("lb-controlplane.service"), "(no controlplane.env)", ""));
        foreach (var tier in Tiers)
        {
            problems.AddRange(ManifestChecker.CheckEnvironmentFile(agentUnit, $"agent-{tier}.env", ReadSystemd($"agent-{tier}.env")));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Contains("EnvironmentFile=/etc/lb/agent-%i.env", agentUnit, StringComparison.Ordinal);
    }

    /// <summary>The flags the manifests may use are really accepted by the built executables.</summary>
    [Fact]
    public void Executables_AcceptTheFlagsTheCheckerAllows()
    {
        var agentHelp = Run(Binaries.Agent, "--help");
        foreach (var flag in ManifestChecker.AgentFlags)
        {
            Assert.Contains(flag + " ", agentHelp, StringComparison.Ordinal);
        }
        var controlPlaneUsage = Run(Binaries.ControlPlane, "--no-such-flag");
        foreach (var flag in ManifestChecker.ControlPlaneFlags)
        {
            Assert.Contains(flag + " ", controlPlaneUsage, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("kustomization lists a missing file", "does not exist")]
    [InlineData("a listed file does not parse", "does not parse")]
    [InlineData("Service selector matches nothing", "matches no Deployment/StatefulSet pod template")]
    [InlineData("Service targetPort by name is not declared", "targetPort htps is no container port")]
    [InlineData("Service targetPort by number is not declared", "targetPort 9999 is no container port")]
    [InlineData("volume refers to a missing Secret", "refers to Secret lb-agent-token-nope")]
    [InlineData("volume refers to a missing ConfigMap", "refers to ConfigMap lb-nope")]
    [InlineData("volumeMount names no volume", "mounts cache2, which is no volume")]
    [InlineData("probe port is not declared", "readinessProbe of agent uses port admn")]
    [InlineData("StatefulSet probe port is not declared", "livenessProbe of controlplane uses port 7402")]
    [InlineData("PVC mount names no claim template", "mounts database, which is no volume")]
    [InlineData("tier Deployment lost --tier", "no Deployment runs an agent with --tier data")]
    [InlineData("agent given an unknown flag", "lb-agent does not accept --tokenfile")]
    [InlineData("PodDisruptionBudget selects nothing", "PodDisruptionBudget/lb-agent-internal: selector")]
    public void Kubernetes_Checker_CatchesABrokenCopy(string breakage, string expected)
    {
        var problems = new List<string>();
        var files = Directory.GetFiles(KubernetesDir, "*.yaml").ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal);
        var kustomization = files["kustomization.yaml"];
        switch (breakage)
        {
            case "kustomization lists a missing file":
                kustomization = kustomization.Replace("  - agent-edge.yaml", "  - agent-edge.yaml\n  - agent-gone.yaml", StringComparison.Ordinal);
                break;
            case "a listed file does not parse":
                files["agent-data.yaml"] = files["agent-data.yaml"] + "\n---\nkind: [unclosed\n";
                break;
        }
        var documents = ManifestChecker.LoadKustomization(kustomization, f => files.GetValueOrDefault(f), problems);
        Assert.True(breakage.StartsWith("kustomization", StringComparison.Ordinal) || breakage.StartsWith("a listed", StringComparison.Ordinal) || problems.Count == 0, string.Join("\n", problems));

        var edge = Find(documents, "Deployment", "lb-agent-edge");
        var edgeAgent = ManifestChecker.Containers(edge).First();
        var controlPlane = ManifestChecker.Containers(Find(documents, "StatefulSet", "lb-controlplane")).First();
        switch (breakage)
        {
            case "Service selector matches nothing":
                Map(Find(documents, "Service", "lb-agent-edge").Root, "spec", "selector")["lb.example.com/tier"] = "edgy";
                break;
            case "Service targetPort by name is not declared":
                Map(ManifestChecker.Seq(Find(documents, "Service", "lb-agent-edge").Root, "spec", "ports").First())["targetPort"] = "htps";
                break;
            case "Service targetPort by number is not declared":
                Map(ManifestChecker.Seq(Find(documents, "Service", "lb-controlplane").Root, "spec", "ports").First())["targetPort"] = "9999";
                break;
            case "volume refers to a missing Secret":
                Map(VolumeNamed(edge, "token"), "secret")["secretName"] = "lb-agent-token-nope";
                break;
            case "volume refers to a missing ConfigMap":
                ((List<object>)ManifestChecker.Get(edge.Root, "spec", "template", "spec", "volumes")!).Add(
                    new Dictionary<object, object> { ["name"] = "settings", ["configMap"] = new Dictionary<object, object> { ["name"] = "lb-nope" } });
                break;
            case "volumeMount names no volume":
                Map(ManifestChecker.Seq(edgeAgent, "volumeMounts").First(m => ManifestChecker.Str(m, "name") == "cache"))["name"] = "cache2";
                break;
            case "probe port is not declared":
                Map(edgeAgent, "readinessProbe", "httpGet")["port"] = "admn";
                break;
            case "StatefulSet probe port is not declared":
                Map(controlPlane, "livenessProbe", "httpGet")["port"] = "7402";
                break;
            case "PVC mount names no claim template":
                Map(ManifestChecker.Seq(controlPlane, "volumeMounts").First(m => ManifestChecker.Str(m, "name") == "data"))["name"] = "database";
                break;
            case "tier Deployment lost --tier":
                var args = (List<object>)ManifestChecker.Get(ManifestChecker.Containers(Find(documents, "Deployment", "lb-agent-data")).First(), "args")!;
                args[args.IndexOf("data")] = "dat";
                break;
            case "agent given an unknown flag":
                ((List<object>)ManifestChecker.Get(edgeAgent, "args")!).AddRange(["--tokenfile", "/etc/lb/token/token"]);
                break;
            case "PodDisruptionBudget selects nothing":
                Map(Find(documents, "PodDisruptionBudget", "lb-agent-internal").Root, "spec", "selector", "matchLabels")["lb.example.com/tier"] = "intern";
                break;
        }
        problems.AddRange(ManifestChecker.CheckReferences(documents));
        problems.AddRange(ManifestChecker.CheckTiers(documents, Tiers));
        problems.AddRange(ManifestChecker.CheckContainerFlags(documents));
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("controlplane", "[Install]", "[Installed]", "no [Install] section")]
    [InlineData("controlplane", "[Unit]", "[Units]", "no [Unit] section")]
    [InlineData("controlplane", "--listen", "--listen-on", "lb-controlplane does not accept --listen-on")]
    [InlineData("controlplane", "/lb-controlplane ", "/lb-control ", "runs /opt/lb/controlplane/lb-control, not lb-controlplane")]
    [InlineData("agent", "[Service]", "[Services]", "no [Service] section")]
    [InlineData("agent", "--ca-file", "--cafile", "lb-agent does not accept --cafile")]
    [InlineData("agent", "--tier %i ", "", "ExecStart lacks --tier")]
    [InlineData("agent", "ExecStart=", "ExecStop=", "expected one ExecStart")]
    public void Systemd_Checker_CatchesABrokenCopy(string unit, string from, string to, string expected)
    {
        var (file, executable, accepted, required) = unit == "agent"
            ? ("lb-agent@.service", "lb-agent", ManifestChecker.AgentFlags, AgentRequired)
            : ("lb-controlplane.service", "lb-controlplane", ManifestChecker.ControlPlaneFlags, ControlPlaneRequired);
        var text = ReadSystemd(file);
        Assert.Empty(ManifestChecker.CheckUnit(file, text, executable, accepted, required));
        var broken = text.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(text, broken);
        Assert.Contains(ManifestChecker.CheckUnit(file, broken, executable, accepted, required), p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Systemd_Checker_CatchesAVariableTheEnvironmentFileLacks()
    {
        var unit = ReadSystemd("lb-agent@.service");
        var env = ReadSystemd("agent-edge.env");
        Assert.Empty(ManifestChecker.CheckEnvironmentFile(unit, "agent-edge.env", env));
        var broken = env.Replace("LB_CA_FILE=", "LB_CA=", StringComparison.Ordinal);
        Assert.Contains(ManifestChecker.CheckEnvironmentFile(unit, "agent-edge.env", broken), p => p.Contains("${LB_CA_FILE}", StringComparison.Ordinal));
        var empty = env.Replace("LB_BIND=0.0.0.0", "LB_BIND=", StringComparison.Ordinal);
        Assert.Contains(ManifestChecker.CheckEnvironmentFile(unit, "agent-edge.env", empty), p => p.Contains("LB_BIND is empty", StringComparison.Ordinal));
    }

    private static List<ManifestDocument> LoadRepositoryManifests(List<string> problems)
    {
        var kustomization = File.ReadAllText(Path.Combine(KubernetesDir, "kustomization.yaml"));
        return ManifestChecker.LoadKustomization(kustomization, file =>
        {
            var path = Path.Combine(KubernetesDir, file);
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }, problems);
    }

    private static string ReadSystemd(string file) => File.ReadAllText(Path.Combine(SystemdDir, file));

    private static ManifestDocument Find(IEnumerable<ManifestDocument> documents, string kind, string name) =>
        documents.SingleOrDefault(d => d.Kind == kind && d.Name == name)
        ?? throw new InvalidOperationException($"no {kind}/{name} in the manifests");

    private static Dictionary<object, object> Map(object? node, params string[] path) =>
        ManifestChecker.Get(node, path) as Dictionary<object, object>
        ?? throw new InvalidOperationException($"no mapping at {string.Join('.', path)}");

    private static object VolumeNamed(ManifestDocument workload, string name) =>
        ManifestChecker.Seq(workload.Root, "spec", "template", "spec", "volumes").First(v => ManifestChecker.Str(v, "name") == name);

    private static string Run(string executable, params string[] args)
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), $"{executable} did not exit");
        return stdout.Result + stderr.Result;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ControlPlane.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (ControlPlane.sln) above " + AppContext.BaseDirectory);
    }
}
