using System.Diagnostics;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Deploy;

/// <summary>
/// Issue 10, deployment per tier: the Kubernetes manifests in deploy/kubernetes parse and every
/// name they reference exists; the systemd units in deploy/systemd are complete and start the
/// executables with flags they accept. Issue 9 on top: both deploy with TLS and per-tier agent
/// tokens (https:// URLs the certificate covers, --ca-file and --token-file from mounted
/// ConfigMaps and Secrets, no --insecure). Each check is also run on a deliberately broken copy
/// to show it can fail.
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
        problems.AddRange(ManifestChecker.CheckTransportSecurity(documents));
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
        Assert.Contains("ConfigMap/lb-controlplane-ca", kinds);
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
    public void Kubernetes_TlsAndPerTierTokens()
    {
        var problems = new List<string>();
        var documents = LoadRepositoryManifests(problems);
        problems.AddRange(ManifestChecker.CheckTransportSecurity(documents));
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        // The certificate covers both forms of the Service's name, whichever one a client dials.
        var controlPlane = ManifestChecker.Containers(Find(documents, "StatefulSet", "lb-controlplane")).Single();
        var names = ManifestChecker.ControlPlaneTlsNames("controlplane", ManifestChecker.Args(controlPlane), problems);
        Assert.Contains("lb-controlplane.lb-system.svc", names);
        Assert.Contains("lb-controlplane.lb-system.svc.cluster.local", names);
        Assert.Empty(problems);
        foreach (var tier in Tiers)
        {
            var agent = ManifestChecker.Containers(Find(documents, "Deployment", $"lb-agent-{tier}")).Single();
            Assert.Equal($"lb-agent-token-{tier}", ManifestChecker.Str(VolumeNamed(Find(documents, "Deployment", $"lb-agent-{tier}"), "token"), "secret", "secretName"));
            Assert.Contains("https://lb-controlplane.lb-system.svc:7400", ManifestChecker.Args(agent));
        }
    }

    /// <summary>The CA and token files the generators read live in a folder git ignores: nothing secret is committed.</summary>
    [Fact]
    public void Kubernetes_CredentialFilesLiveInAGitIgnoredFolder()
    {
        var problems = new List<string>();
        var kustomization = ManifestChecker.Parse("kustomization.yaml", File.ReadAllText(Path.Combine(KubernetesDir, "kustomization.yaml")), problems).Single();
        Assert.Empty(problems);
        var sources = new[] { "configMapGenerator", "secretGenerator" }
            .SelectMany(field => ManifestChecker.Seq(kustomization.Root, field))
            .SelectMany(generator => ManifestChecker.Seq(generator, "files"))
            .Select(entry => ((string)entry).Split('=')[^1])
            .ToList();
        Assert.Equal(4, sources.Count); // ca.crt and one token per tier
        foreach (var source in sources)
        {
            var ignore = Path.Combine(Path.GetDirectoryName(Path.Combine(KubernetesDir, source))!, ".gitignore");
            Assert.True(File.Exists(ignore) && File.ReadAllLines(ignore).Contains("*"), $"{source}: its folder needs a .gitignore that ignores everything ({ignore})");
        }
    }

    [Theory]
    [InlineData("agent dials http://", "--control-plane http://lb-controlplane.lb-system.svc:7400 is not an https:// URL")]
    [InlineData("control plane started with --insecure", "lb-controlplane runs with --insecure")]
    [InlineData("control plane listens on http://", "--listen http://0.0.0.0:7400 is not an https:// URL")]
    [InlineData("certificate lacks the name agents dial", "lb-controlplane.lb-system.svc is not a name of lb-controlplane's certificate")]
    [InlineData("agent dials a Service that does not exist", "there is no Service lb-cp in namespace lb-system")]
    [InlineData("agent dials a port the Service lacks", "Service lb-controlplane has no port 7401")]
    [InlineData("agent lost --ca-file", "no --ca-file")]
    [InlineData("agent lost --token-file", "no --token-file")]
    [InlineData("token file on no mount", "--token-file /etc/lb/tokens/token is on no mounted volume")]
    [InlineData("CA file on an emptyDir", "--ca-file /tmp/ca.crt is on volume tmp, which is neither a ConfigMap nor a Secret")]
    [InlineData("CA mounted writable", "is on volume controlplane-ca, which is mounted writable")]
    [InlineData("CA file names no key", "no key ca.pem in ConfigMap lb-controlplane-ca")]
    [InlineData("token from a ConfigMap", "comes from ConfigMap lb-controlplane-ca: a token belongs in a Secret")]
    [InlineData("two tiers share a token", "Secret lb-agent-token-edge holds the token of tiers edge, internal")]
    [InlineData("probe on the gRPC port", "readinessProbe of controlplane goes to port 7400, not to the plain-HTTP admin port 7401")]
    [InlineData("CA ConfigMap generator removed", "ConfigMap lb-controlplane-ca is not in the manifests")]
    [InlineData("token committed as a literal", "secretGenerator lb-agent-token-edge has a literal")]
    public void Kubernetes_TransportCheck_CatchesABrokenCopy(string breakage, string expected)
    {
        var problems = new List<string>();
        var files = Directory.GetFiles(KubernetesDir, "*.yaml").ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal);
        var kustomization = files["kustomization.yaml"];
        switch (breakage)
        {
            case "CA ConfigMap generator removed":
                kustomization = Replace(kustomization, "configMapGenerator:\n  - name: lb-controlplane-ca\n", "configMapGenerator:\n  - name: lb-controlplane-ca-old\n");
                break;
            case "token committed as a literal":
                kustomization = Replace(kustomization, "    files:\n      - token=bootstrap/agent-edge.token\n", "    literals:\n      - token=t-edge.secret\n");
                break;
        }
        var documents = ManifestChecker.LoadKustomization(kustomization, f => files.GetValueOrDefault(f), problems);
        if (!breakage.StartsWith("token committed", StringComparison.Ordinal))
        {
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        }
        if (!breakage.StartsWith("CA ConfigMap", StringComparison.Ordinal))
        {
            Assert.Empty(ManifestChecker.CheckTransportSecurity(documents));
        }

        var edgeDeployment = Find(documents, "Deployment", "lb-agent-edge");
        var edgeArgs = (List<object>)ManifestChecker.Get(ManifestChecker.Containers(edgeDeployment).Single(), "args")!;
        var controlPlane = ManifestChecker.Containers(Find(documents, "StatefulSet", "lb-controlplane")).Single();
        var controlPlaneArgs = (List<object>)ManifestChecker.Get(controlPlane, "args")!;
        switch (breakage)
        {
            case "agent dials http://":
                SetFlag(edgeArgs, "--control-plane", "http://lb-controlplane.lb-system.svc:7400");
                break;
            case "control plane started with --insecure":
                controlPlaneArgs.Add("--insecure");
                break;
            case "control plane listens on http://":
                SetFlag(controlPlaneArgs, "--listen", "http://0.0.0.0:7400");
                break;
            case "certificate lacks the name agents dial":
                var san = controlPlaneArgs.IndexOf("lb-controlplane.lb-system.svc");
                controlPlaneArgs.RemoveRange(san - 1, 2);
                break;
            case "agent dials a Service that does not exist":
                SetFlag(edgeArgs, "--control-plane", "https://lb-cp.lb-system.svc:7400");
                break;
            case "agent dials a port the Service lacks":
                SetFlag(edgeArgs, "--control-plane", "https://lb-controlplane.lb-system.svc:7401");
                break;
            case "agent lost --ca-file":
                edgeArgs.RemoveRange(edgeArgs.IndexOf("--ca-file"), 2);
                break;
            case "agent lost --token-file":
                edgeArgs.RemoveRange(edgeArgs.IndexOf("--token-file"), 2);
                break;
            case "token file on no mount":
                SetFlag(edgeArgs, "--token-file", "/etc/lb/tokens/token");
                break;
            case "CA file on an emptyDir":
                SetFlag(edgeArgs, "--ca-file", "/tmp/ca.crt");
                break;
            case "CA mounted writable":
                Map(ManifestChecker.Seq(ManifestChecker.Containers(edgeDeployment).Single(), "volumeMounts").First(m => ManifestChecker.Str(m, "name") == "controlplane-ca"))["readOnly"] = "false";
                break;
            case "CA file names no key":
                SetFlag(edgeArgs, "--ca-file", "/etc/lb/ca/ca.pem");
                break;
            case "token from a ConfigMap":
                var volume = Map(VolumeNamed(edgeDeployment, "token"));
                volume.Remove("secret");
                volume["configMap"] = new Dictionary<object, object> { ["name"] = "lb-controlplane-ca" };
                SetFlag(edgeArgs, "--token-file", "/etc/lb/token/ca.crt");
                break;
            case "two tiers share a token":
                Map(VolumeNamed(Find(documents, "Deployment", "lb-agent-internal"), "token"), "secret")["secretName"] = "lb-agent-token-edge";
                break;
            case "probe on the gRPC port":
                Map(controlPlane, "readinessProbe", "httpGet")["port"] = "grpc";
                break;
        }
        problems.AddRange(ManifestChecker.CheckTransportSecurity(documents));
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Systemd_UnitsHaveTheirSections_AndStartTheExecutablesWithAcceptedFlags()
    {
        var problems = new List<string>();
        problems.AddRange(ManifestChecker.CheckUnit("lb-controlplane.service", ReadSystemd("lb-controlplane.service"), "lb-controlplane", ManifestChecker.ControlPlaneFlags, ControlPlaneRequired));
        var agentUnit = ReadSystemd("lb-agent@.service");
        problems.AddRange(ManifestChecker.CheckUnit("lb-agent@.service", agentUnit, "lb-agent", ManifestChecker.AgentFlags, AgentRequired));
        problems.AddRange(ManifestChecker.CheckEnvironmentFile(ReadSystemd("lb-controlplane.service"), "(no controlplane.env)", ""));
        problems.AddRange(ManifestChecker.CheckEnvironmentFile(ReadSystemd("lb-controlplane.service"), "controlplane.env", ReadSystemd("controlplane.env")));
        foreach (var tier in Tiers)
        {
            problems.AddRange(ManifestChecker.CheckEnvironmentFile(agentUnit, $"agent-{tier}.env", ReadSystemd($"agent-{tier}.env")));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Contains("EnvironmentFile=/etc/lb/agent-%i.env", agentUnit, StringComparison.Ordinal);
        Assert.Contains("EnvironmentFile=-/etc/lb/controlplane.env", ReadSystemd("lb-controlplane.service"), StringComparison.Ordinal);
    }

    [Fact]
    public void Systemd_TlsAndPerTierTokens()
    {
        var problems = CheckSystemdTransport(new Dictionary<string, string>(StringComparer.Ordinal));
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        // Without controlplane.env the unit's defaults serve TLS too, on loopback.
        var defaults = ManifestChecker.ExpandExecStart(ReadSystemd("lb-controlplane.service"), "", "");
        Assert.Contains("https://127.0.0.1:7400", defaults);
        Assert.Contains("127.0.0.1", ManifestChecker.ControlPlaneTlsNames("lb-controlplane.service", defaults, problems));
        Assert.Empty(problems);
    }

    [Theory]
    [InlineData("controlplane.env", "LB_LISTEN=https://", "LB_LISTEN=http://", "--listen http://10.0.0.10:7400 is not an https:// URL")]
    [InlineData("lb-controlplane.service", "--listen ${LB_LISTEN} ", "--listen ${LB_LISTEN} --insecure ", "lb-controlplane runs with --insecure")]
    [InlineData("controlplane.env", "LB_SAN=lb-controlplane.example.internal", "LB_SAN=cp.example.internal", "lb-controlplane.example.internal is not a name of the control plane's certificate")]
    [InlineData("agent-edge.env", "LB_CONTROL_PLANE=https://", "LB_CONTROL_PLANE=http://", "lb-agent@edge with agent-edge.env: --control-plane http://lb-controlplane.example.internal:7400 is not an https:// URL")]
    [InlineData("agent-data.env", "LB_TOKEN_FILE=/etc/lb/agent-data.token", "LB_TOKEN_FILE=/etc/lb/agent-edge.token", "share the token file /etc/lb/agent-edge.token")]
    [InlineData("lb-agent@.service", " --ca-file ${LB_CA_FILE}", "", "no --ca-file")]
    [InlineData("lb-agent@.service", " --token-file ${LB_TOKEN_FILE}", "", "no --token-file")]
    [InlineData("agent-internal.env", "LB_TOKEN_FILE=/etc/lb/agent-internal.token", "LB_TOKEN_FILE=", "--token-file is empty")]
    public void Systemd_TransportCheck_CatchesABrokenCopy(string file, string from, string to, string expected)
    {
        var text = ReadSystemd(file);
        var broken = text.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(text, broken);
        Assert.Empty(CheckSystemdTransport(new Dictionary<string, string>(StringComparer.Ordinal)));
        var problems = CheckSystemdTransport(new Dictionary<string, string>(StringComparer.Ordinal) { [file] = broken });
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
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

    /// <summary>The systemd transport check on the files of deploy/systemd, some replaced by <paramref name="overrides"/>.</summary>
    private static List<string> CheckSystemdTransport(Dictionary<string, string> overrides)
    {
        string Read(string file) => overrides.TryGetValue(file, out var text) ? text : ReadSystemd(file);
        return ManifestChecker.CheckSystemdTransportSecurity(
            Read("lb-controlplane.service"),
            Read("controlplane.env"),
            Read("lb-agent@.service"),
            Tiers.ToDictionary(tier => tier, tier => Read($"agent-{tier}.env"), StringComparer.Ordinal));
    }

    private static string Replace(string text, string from, string to)
    {
        var replaced = text.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(text, replaced);
        return replaced;
    }

    private static void SetFlag(List<object> args, string flag, string value)
    {
        var index = args.IndexOf(flag);
        Assert.True(index >= 0 && index + 1 < args.Count, $"no {flag} in the args");
        args[index + 1] = value;
    }

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
