namespace LoadBalancer.EndToEnd.Tests.Deploy;

/// <summary>
/// Issue 15, deploy isolation: code running in one tier's agent must find neither another
/// tier's token nor a Kubernetes API token, and the plain-HTTP admin ports answer only the
/// monitoring namespace. Each check also runs on a broken copy to show it can fail.
/// </summary>
public sealed class DeployIsolationTests
{
    private static readonly string Root = FindRoot();

    private static string KubernetesDir => Path.Combine(Root, "deploy", "kubernetes");

    private static string SystemdDir => Path.Combine(Root, "deploy", "systemd");

    [Fact]
    public void Kubernetes_NoPodMountsAServiceAccountToken_AndAdminPortsAnswerOnlyMonitoring()
    {
        var problems = new List<string>();
        var documents = Load(File.ReadAllText(Path.Combine(KubernetesDir, "kustomization.yaml")), problems);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Equal(4, Workloads(documents).Count());
        Assert.Empty(CheckIsolation(documents));
    }

    [Theory]
    [InlineData("automount", "lb-agent-edge: automountServiceAccountToken is not false")]
    [InlineData("policy removed", "lb-controlplane: no NetworkPolicy selects its pods")]
    [InlineData("admin open to all", "lb-agent-data: NetworkPolicy lb-agent-data admits port admin from anywhere")]
    [InlineData("all ports open", "lb-agent-internal: NetworkPolicy lb-agent-internal admits port admin from anywhere")]
    public void Kubernetes_IsolationCheck_CatchesABrokenCopy(string breakage, string expected)
    {
        var problems = new List<string>();
        var documents = Load(File.ReadAllText(Path.Combine(KubernetesDir, "kustomization.yaml")), problems);
        switch (breakage)
        {
            case "automount":
                Map(Find(documents, "Deployment", "lb-agent-edge").Root, "spec", "template", "spec").Remove("automountServiceAccountToken");
                break;
            case "policy removed":
                documents.Remove(Find(documents, "NetworkPolicy", "lb-controlplane"));
                break;
            case "admin open to all":
                foreach (var rule in ManifestChecker.Seq(Find(documents, "NetworkPolicy", "lb-agent-data").Root, "spec", "ingress"))
                {
                    ((Dictionary<object, object>)rule).Remove("from");
                }
                break;
            case "all ports open":
                ((List<object>)ManifestChecker.Get(Find(documents, "NetworkPolicy", "lb-agent-internal").Root, "spec", "ingress")!)
                    .Add(new Dictionary<object, object> { ["from"] = new List<object> { new Dictionary<object, object> { ["ipBlock"] = new Dictionary<object, object> { ["cidr"] = "0.0.0.0/0" } } } });
                break;
        }

        Assert.Contains(expected, CheckIsolation(documents));
    }

    [Fact]
    public void Systemd_EachTierRunsAsItsOwnUser_AndOnlyThatUserCanReadItsToken()
    {
        Assert.Empty(CheckSystemdIsolation(File.ReadAllText(Path.Combine(SystemdDir, "lb-agent@.service")), EnvFiles()));
    }

    [Theory]
    [InlineData("User=lb-agent-%i", "User=lb-agent", "every tier runs as User=lb-agent")]
    [InlineData("Group=lb-agent-%i", "Group=lb-agent", "every tier shares Group=lb-agent")]
    [InlineData("CacheDirectoryMode=0700", "CacheDirectoryMode=0750", "CacheDirectoryMode=0750: the cached snapshot holds private keys, owner only")]
    [InlineData("StateDirectoryMode=0700", "StateDirectoryMode=0750", "StateDirectoryMode=0750: the key that opens the cached snapshot lives there, owner only")]
    [InlineData(" --cache-key-file %S/lb-agent/%i/cache.key", "", "ExecStart gives no --cache-key-file in the StateDirectory (%S): beside the cache folder in /var/cache the agent cannot write it (ProtectSystem=strict), and a key in the cache folder would travel with every copy of it")]
    public void Systemd_IsolationCheck_CatchesABrokenCopy(string from, string to, string expected)
    {
        var unit = File.ReadAllText(Path.Combine(SystemdDir, "lb-agent@.service"));
        // A whole line, or a flag within one.
        var whole = from.StartsWith(' ') ? from : from + "\n";
        Assert.Contains(whole, unit, StringComparison.Ordinal);

        Assert.Contains(expected, CheckSystemdIsolation(unit.Replace(whole, from.StartsWith(' ') ? to : to + "\n", StringComparison.Ordinal), EnvFiles()));
    }

    [Fact]
    public void Systemd_IsolationCheck_CatchesATokenReadableByAGroup()
    {
        var env = EnvFiles();
        env["edge"] = env["edge"].Replace("mode 0400, lb-agent-edge", "mode 0640, root:lb-agent", StringComparison.Ordinal);

        Assert.Contains("agent-edge.env: the token file must be mode 0400, owned by lb-agent-edge", CheckSystemdIsolation(File.ReadAllText(Path.Combine(SystemdDir, "lb-agent@.service")), env));
    }

    private static Dictionary<string, string> EnvFiles() =>
        new[] { "edge", "internal", "data" }.ToDictionary(t => t, t => File.ReadAllText(Path.Combine(SystemdDir, $"agent-{t}.env")), StringComparer.Ordinal);

    private static List<string> CheckSystemdIsolation(string unit, IReadOnlyDictionary<string, string> envByTier)
    {
        var problems = new List<string>();
        var service = ManifestChecker.ParseUnit(unit)["Service"].ToLookup(kv => kv.Key, kv => kv.Value);
        var user = service["User"].LastOrDefault();
        var dynamic = service["DynamicUser"].LastOrDefault() == "yes";
        if (!dynamic && (user is null || !user.Contains("%i", StringComparison.Ordinal)))
        {
            problems.Add($"every tier runs as User={user}");
        }
        if (service["Group"].LastOrDefault() is { } group && !group.Contains("%i", StringComparison.Ordinal))
        {
            problems.Add($"every tier shares Group={group}");
        }
        if (service["CacheDirectoryMode"].LastOrDefault() is not "0700" and var mode)
        {
            problems.Add($"CacheDirectoryMode={mode}: the cached snapshot holds private keys, owner only");
        }
        if (service["StateDirectoryMode"].LastOrDefault() is not "0700" and var stateMode)
        {
            problems.Add($"StateDirectoryMode={stateMode}: the key that opens the cached snapshot lives there, owner only");
        }
        var execStart = (service["ExecStart"].LastOrDefault() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var keyFlag = Array.IndexOf(execStart, "--cache-key-file");
        if (keyFlag < 0 || keyFlag + 1 >= execStart.Length || !execStart[keyFlag + 1].StartsWith("%S/", StringComparison.Ordinal))
        {
            problems.Add("ExecStart gives no --cache-key-file in the StateDirectory (%S): beside the cache folder in /var/cache the agent cannot write it (ProtectSystem=strict), and a key in the cache folder would travel with every copy of it");
        }
        if (service["UMask"].LastOrDefault() != "0077")
        {
            problems.Add("UMask must be 0077");
        }
        foreach (var (tier, env) in envByTier)
        {
            if (!env.Contains($"mode 0400, lb-agent-{tier}", StringComparison.Ordinal))
            {
                problems.Add($"agent-{tier}.env: the token file must be mode 0400, owned by lb-agent-{tier}");
            }
        }
        return problems;
    }

    private static IEnumerable<ManifestDocument> Workloads(IEnumerable<ManifestDocument> documents) =>
        documents.Where(d => d.Kind is "Deployment" or "StatefulSet" or "DaemonSet");

    private static List<string> CheckIsolation(IReadOnlyList<ManifestDocument> documents)
    {
        var problems = new List<string>();
        var policies = documents.Where(d => d.Kind == "NetworkPolicy").ToList();
        foreach (var workload in Workloads(documents))
        {
            var podSpec = ManifestChecker.Get(workload.Root, "spec", "template", "spec");
            if (ManifestChecker.Get(podSpec, "automountServiceAccountToken") is not (false or "false"))
            {
                problems.Add($"{workload.Name}: automountServiceAccountToken is not false");
            }
            var podLabels = Labels(ManifestChecker.Get(workload.Root, "spec", "template", "metadata", "labels"));
            var selecting = policies.Where(p => Labels(ManifestChecker.Get(p.Root, "spec", "podSelector", "matchLabels")).All(l => podLabels.Contains(l))).ToList();
            if (selecting.Count == 0)
            {
                problems.Add($"{workload.Name}: no NetworkPolicy selects its pods");
                continue;
            }
            var adminPort = ManifestChecker.Containers(workload).SelectMany(c => ManifestChecker.Seq(c, "ports")).FirstOrDefault(p => ManifestChecker.Str(p, "name") == "admin");
            var adminNumber = ManifestChecker.Get(adminPort, "containerPort")?.ToString();
            foreach (var policy in selecting)
            {
                if (!ManifestChecker.Seq(policy.Root, "spec", "policyTypes").Contains("Ingress"))
                {
                    problems.Add($"{workload.Name}: NetworkPolicy {policy.Name} does not restrict Ingress");
                }
                foreach (var rule in ManifestChecker.Seq(policy.Root, "spec", "ingress"))
                {
                    var ports = ManifestChecker.Seq(rule, "ports").Select(p => ManifestChecker.Get(p, "port")?.ToString()).ToList();
                    // A rule without ports admits every port, the admin one too.
                    var coversAdmin = ports.Count == 0 || ports.Contains("admin") || (adminNumber is not null && ports.Contains(adminNumber));
                    if (!coversAdmin)
                    {
                        continue;
                    }
                    var from = ManifestChecker.Seq(rule, "from").ToList();
                    var onlyMonitoring = from.Count > 0 && from.All(f =>
                        ManifestChecker.Str(f, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") == "monitoring"
                        && ManifestChecker.Get(f, "ipBlock") is null && ManifestChecker.Get(f, "podSelector") is null);
                    if (!onlyMonitoring)
                    {
                        problems.Add($"{workload.Name}: NetworkPolicy {policy.Name} admits port admin from anywhere");
                    }
                }
            }
        }
        return problems;
    }

    private static HashSet<(string, string)> Labels(object? node) =>
        node is Dictionary<object, object> map ? map.Select(kv => (kv.Key.ToString()!, kv.Value?.ToString() ?? "")).ToHashSet() : [];

    private static List<ManifestDocument> Load(string kustomization, List<string> problems) =>
        ManifestChecker.LoadKustomization(kustomization, file =>
        {
            var path = Path.Combine(KubernetesDir, file);
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }, problems);

    private static ManifestDocument Find(IEnumerable<ManifestDocument> documents, string kind, string name) =>
        documents.Single(d => d.Kind == kind && d.Name == name);

    private static Dictionary<object, object> Map(object? node, params string[] path) => (Dictionary<object, object>)ManifestChecker.Get(node, path)!;

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ControlPlane.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
