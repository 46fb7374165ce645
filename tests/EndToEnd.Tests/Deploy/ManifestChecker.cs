using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace LoadBalancer.EndToEnd.Tests.Deploy;

/// <summary>One YAML document of a manifest file, as a plain object graph (maps, lists, strings).</summary>
public sealed record ManifestDocument(string File, int Index, Dictionary<object, object> Root)
{
    public string Kind => ManifestChecker.Str(Root, "kind") ?? "";

    public string Name => ManifestChecker.Str(Root, "metadata", "name") ?? "";

    public override string ToString() => $"{File}#{Index} {Kind}/{Name}";
}

/// <summary>
/// Checks deploy/: that the Kubernetes manifests parse and every name they reference exists, and
/// that the systemd units are complete and start the executables with flags they accept. Every
/// check returns a list of problems (empty when all is well), so a test can feed it a broken
/// sample and see the problem reported.
/// </summary>
public static partial class ManifestChecker
{
    /// <summary>Flags of the executables (docs/DESIGN.md section 5).</summary>
    public static readonly IReadOnlySet<string> AgentFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "--control-plane", "--tier", "--name", "--token-file", "--ca-file", "--cache", "--admin", "--bind",
    };

    public static readonly IReadOnlySet<string> ControlPlaneFlags = new HashSet<string>(StringComparer.Ordinal) { "--data", "--listen", "--admin" };

    private static readonly string[] WorkloadKinds = ["Deployment", "StatefulSet", "DaemonSet"];
    private static readonly string[] ProbeKinds = ["readinessProbe", "livenessProbe", "startupProbe"];

    // ---------------------------------------------------------------- loading

    /// <summary>Parses a multi-document YAML text; a parse error becomes a problem.</summary>
    public static List<ManifestDocument> Parse(string file, string text, List<string> problems)
    {
        var documents = new List<ManifestDocument>();
        var deserializer = new DeserializerBuilder().Build();
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            var index = 0;
            while (parser.Accept<DocumentStart>(out _))
            {
                var node = deserializer.Deserialize<object?>(parser);
                index++;
                if (node is null)
                {
                    continue; // an empty document (only comments) between separators
                }
                if (node is not Dictionary<object, object> map)
                {
                    problems.Add($"{file}#{index}: the document is not a mapping");
                    continue;
                }
                var document = new ManifestDocument(file, index, map);
                if (Str(map, "apiVersion") is null || document.Kind.Length == 0)
                {
                    problems.Add($"{file}#{index}: apiVersion or kind missing");
                }
                documents.Add(document);
            }
        }
        catch (YamlException e)
        {
            problems.Add($"{file}: does not parse: {e.Message}");
        }
        return documents;
    }

    /// <summary>
    /// Reads kustomization.yaml and every file its <c>resources</c> list names (through
    /// <paramref name="readFile"/>, which answers null for a missing file).
    /// </summary>
    public static List<ManifestDocument> LoadKustomization(string kustomizationText, Func<string, string?> readFile, List<string> problems)
    {
        var documents = new List<ManifestDocument>();
        var kustomization = Parse("kustomization.yaml", kustomizationText, problems).FirstOrDefault();
        if (kustomization is null || kustomization.Kind != "Kustomization")
        {
            problems.Add("kustomization.yaml: not a Kustomization");
            return documents;
        }
        var resources = Seq(kustomization.Root, "resources").ToList();
        if (resources.Count == 0)
        {
            problems.Add("kustomization.yaml: no resources listed");
        }
        foreach (var resource in resources)
        {
            var file = resource as string ?? "";
            var text = readFile(file);
            if (text is null)
            {
                problems.Add($"kustomization.yaml lists {file}, which does not exist");
                continue;
            }
            var parsed = Parse(file, text, problems);
            if (parsed.Count == 0)
            {
                problems.Add($"{file}: holds no manifest");
            }
            documents.AddRange(parsed);
        }
        return documents;
    }

    // ---------------------------------------------------------------- Kubernetes references

    /// <summary>Every name a manifest refers to exists among <paramref name="documents"/>.</summary>
    public static List<string> CheckReferences(IReadOnlyList<ManifestDocument> documents)
    {
        var problems = new List<string>();
        var names = documents.Select(d => (d.Kind, d.Name)).ToHashSet();
        var workloads = documents.Where(d => WorkloadKinds.Contains(d.Kind)).ToList();

        foreach (var document in documents)
        {
            if (document.Name.Length == 0)
            {
                problems.Add($"{document}: metadata.name missing");
            }
            if (Str(document.Root, "metadata", "namespace") is { } ns && !names.Contains(("Namespace", ns)))
            {
                problems.Add($"{document}: namespace {ns} has no Namespace manifest");
            }
        }

        foreach (var workload in workloads)
        {
            var templateLabels = Labels(Get(workload.Root, "spec", "template", "metadata", "labels"));
            var matchLabels = Labels(Get(workload.Root, "spec", "selector", "matchLabels"));
            if (matchLabels.Count == 0 || !IsSubset(matchLabels, templateLabels))
            {
                problems.Add($"{workload}: spec.selector.matchLabels does not match the pod template's labels");
            }
            if (workload.Kind == "StatefulSet" && Str(workload.Root, "spec", "serviceName") is { } serviceName && !names.Contains(("Service", serviceName)))
            {
                problems.Add($"{workload}: serviceName {serviceName} is not a Service");
            }
            CheckPodSpec(workload, names, problems);
        }

        foreach (var service in documents.Where(d => d.Kind == "Service"))
        {
            var selector = Labels(Get(service.Root, "spec", "selector"));
            if (selector.Count == 0)
            {
                continue; // a Service without selector (manual Endpoints) selects nothing to check
            }
            var selected = workloads.Where(w => IsSubset(selector, Labels(Get(w.Root, "spec", "template", "metadata", "labels")))).ToList();
            if (selected.Count == 0)
            {
                problems.Add($"{service}: selector {Show(selector)} matches no Deployment/StatefulSet pod template");
                continue;
            }
            foreach (var port in Seq(service.Root, "spec", "ports"))
            {
                var target = Get(port, "targetPort") ?? Get(port, "port");
                if (target is null)
                {
                    problems.Add($"{service}: a port has neither port nor targetPort");
                    continue;
                }
                if (!selected.Any(w => Containers(w).Any(c => HasPort(c, target))))
                {
                    problems.Add($"{service}: targetPort {target} is no container port of {string.Join(", ", selected.Select(w => w.Name))}");
                }
            }
        }

        foreach (var budget in documents.Where(d => d.Kind == "PodDisruptionBudget"))
        {
            var selector = Labels(Get(budget.Root, "spec", "selector", "matchLabels"));
            if (!workloads.Any(w => IsSubset(selector, Labels(Get(w.Root, "spec", "template", "metadata", "labels")))))
            {
                problems.Add($"{budget}: selector {Show(selector)} matches no pod template");
            }
        }
        return problems;
    }

    private static void CheckPodSpec(ManifestDocument workload, HashSet<(string Kind, string Name)> names, List<string> problems)
    {
        var podSpec = Get(workload.Root, "spec", "template", "spec");
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var volume in Seq(podSpec, "volumes"))
        {
            var volumeName = Str(volume, "name") ?? "";
            if (!volumes.Add(volumeName))
            {
                problems.Add($"{workload}: volume {volumeName} declared twice");
            }
            RequireSecret(Str(volume, "secret", "secretName"), $"volume {volumeName}");
            RequireConfigMap(Str(volume, "configMap", "name"), $"volume {volumeName}");
            foreach (var source in Seq(volume, "projected", "sources"))
            {
                RequireSecret(Str(source, "secret", "name"), $"projected volume {volumeName}");
                RequireConfigMap(Str(source, "configMap", "name"), $"projected volume {volumeName}");
            }
        }
        foreach (var claim in Seq(workload.Root, "spec", "volumeClaimTemplates"))
        {
            volumes.Add(Str(claim, "metadata", "name") ?? "");
        }

        foreach (var container in Containers(workload))
        {
            var containerName = Str(container, "name") ?? "?";
            foreach (var mount in Seq(container, "volumeMounts"))
            {
                var mountName = Str(mount, "name") ?? "";
                if (!volumes.Contains(mountName))
                {
                    problems.Add($"{workload}: container {containerName} mounts {mountName}, which is no volume of the pod");
                }
            }
            foreach (var variable in Seq(container, "env"))
            {
                RequireSecret(Str(variable, "valueFrom", "secretKeyRef", "name"), $"env {Str(variable, "name")}");
                RequireConfigMap(Str(variable, "valueFrom", "configMapKeyRef", "name"), $"env {Str(variable, "name")}");
            }
            foreach (var source in Seq(container, "envFrom"))
            {
                RequireSecret(Str(source, "secretRef", "name"), "envFrom");
                RequireConfigMap(Str(source, "configMapRef", "name"), "envFrom");
            }
            foreach (var probeKind in ProbeKinds)
            {
                var probe = Get(container, probeKind);
                if (probe is null)
                {
                    continue;
                }
                var port = Get(probe, "httpGet", "port") ?? Get(probe, "tcpSocket", "port") ?? Get(probe, "grpc", "port");
                if (port is null)
                {
                    problems.Add($"{workload}: {probeKind} of {containerName} names no port");
                }
                else if (!HasPort(container, port))
                {
                    problems.Add($"{workload}: {probeKind} of {containerName} uses port {port}, which the container does not declare");
                }
            }
        }

        void RequireSecret(string? name, string where)
        {
            if (name is not null && !names.Contains(("Secret", name)))
            {
                problems.Add($"{workload}: {where} refers to Secret {name}, which is not in the manifests");
            }
        }

        void RequireConfigMap(string? name, string where)
        {
            if (name is not null && !names.Contains(("ConfigMap", name)))
            {
                problems.Add($"{workload}: {where} refers to ConfigMap {name}, which is not in the manifests");
            }
        }
    }

    /// <summary>Each tier has a Deployment whose container args hold <c>--tier TIER</c>.</summary>
    public static List<string> CheckTiers(IReadOnlyList<ManifestDocument> documents, IEnumerable<string> tiers)
    {
        var problems = new List<string>();
        foreach (var tier in tiers)
        {
            var found = documents.Where(d => d.Kind == "Deployment")
                .Any(d => Containers(d).Any(c => FlagValues(Args(c), "--tier").Contains(tier)));
            if (!found)
            {
                problems.Add($"no Deployment runs an agent with --tier {tier}");
            }
        }
        return problems;
    }

    /// <summary>Containers running lb-agent or lb-controlplane pass only flags those accept.</summary>
    public static List<string> CheckContainerFlags(IReadOnlyList<ManifestDocument> documents)
    {
        var problems = new List<string>();
        foreach (var workload in documents.Where(d => WorkloadKinds.Contains(d.Kind)))
        {
            foreach (var container in Containers(workload))
            {
                var image = Str(container, "image") ?? "";
                var accepted = ImageName(image) switch
                {
                    "lb-agent" => AgentFlags,
                    "lb-controlplane" => ControlPlaneFlags,
                    _ => null,
                };
                if (accepted is null)
                {
                    continue;
                }
                var parts = image.Split('/');
                if (parts.Length > 1 && (parts[0].Contains('.', StringComparison.Ordinal) || parts[0].Contains(':', StringComparison.Ordinal) || parts[0] == "localhost"))
                {
                    problems.Add($"{workload}: image {image} names a registry host (set it in kustomization.yaml instead)");
                }
                foreach (var flag in Args(container).Where(a => a.StartsWith("--", StringComparison.Ordinal)))
                {
                    if (!accepted.Contains(flag.Split('=')[0]))
                    {
                        problems.Add($"{workload}: {ImageName(image)} does not accept {flag}");
                    }
                }
            }
        }
        return problems;
    }

    // ---------------------------------------------------------------- systemd

    /// <summary>A unit file as sections of key/value pairs (continuation lines joined, comments dropped).</summary>
    public static Dictionary<string, List<KeyValuePair<string, string>>> ParseUnit(string text)
    {
        var sections = new Dictionary<string, List<KeyValuePair<string, string>>>(StringComparer.Ordinal);
        List<KeyValuePair<string, string>>? current = null;
        var logical = new List<string>();
        var pending = "";
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.TrimStart().StartsWith(';')))
            {
                continue;
            }
            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }
            logical.Add(pending + line);
            pending = "";
        }
        foreach (var line in logical.Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                current = [];
                sections[line[1..^1]] = current;
            }
            else if (current is not null && line.IndexOf('=', StringComparison.Ordinal) is > 0 and var equals)
            {
                current.Add(new(line[..equals].Trim(), line[(equals + 1)..].Trim()));
            }
        }
        return sections;
    }

    /// <summary>
    /// The unit has [Unit], [Service] and [Install]; its ExecStart runs <paramref name="executable"/>
    /// with flags from <paramref name="accepted"/> and at least <paramref name="required"/>.
    /// </summary>
    public static List<string> CheckUnit(string file, string text, string executable, IReadOnlySet<string> accepted, IEnumerable<string> required)
    {
        var problems = new List<string>();
        var sections = ParseUnit(text);
        foreach (var section in new[] { "Unit", "Service", "Install" })
        {
            if (!sections.ContainsKey(section))
            {
                problems.Add($"{file}: no [{section}] section");
            }
        }
        var execStart = sections.GetValueOrDefault("Service")?.Where(p => p.Key == "ExecStart").Select(p => p.Value).ToList() ?? [];
        if (execStart.Count != 1)
        {
            problems.Add($"{file}: expected one ExecStart in [Service], found {execStart.Count}");
            return problems;
        }
        var words = execStart[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var program = words[0].TrimStart('-', '@', '+', '!', ':');
        if (Path.GetFileName(program) != executable)
        {
            problems.Add($"{file}: ExecStart runs {program}, not {executable}");
        }
        var flags = words.Skip(1).Where(w => w.StartsWith("--", StringComparison.Ordinal)).Select(w => w.Split('=')[0]).ToList();
        foreach (var flag in flags.Where(f => !accepted.Contains(f)))
        {
            problems.Add($"{file}: {executable} does not accept {flag}");
        }
        foreach (var flag in required.Where(r => !flags.Contains(r)))
        {
            problems.Add($"{file}: ExecStart lacks {flag}");
        }
        return problems;
    }

    /// <summary>Every ${VAR} in ExecStart is set by an Environment= line or by the environment file.</summary>
    public static List<string> CheckEnvironmentFile(string unitText, string envFile, string envText)
    {
        var problems = new List<string>();
        var service = ParseUnit(unitText).GetValueOrDefault("Service") ?? [];
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in service.Where(p => p.Key == "Environment").Select(p => p.Value))
        {
            defined.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.Split('=')[0].Trim('"')));
        }
        foreach (var line in envText.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                problems.Add($"{envFile}: not an assignment: {line}");
                continue;
            }
            if (line[(equals + 1)..].Trim().Length == 0)
            {
                problems.Add($"{envFile}: {line[..equals]} is empty");
            }
            defined.Add(line[..equals].Trim());
        }
        foreach (var execStart in service.Where(p => p.Key == "ExecStart").Select(p => p.Value))
        {
            foreach (Match match in Variable().Matches(execStart))
            {
                if (!defined.Contains(match.Groups[1].Value))
                {
                    problems.Add($"{envFile}: ExecStart uses ${{{match.Groups[1].Value}}}, which is not set");
                }
            }
        }
        return problems;
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Variable();

    // ---------------------------------------------------------------- object graph helpers

    public static object? Get(object? node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not Dictionary<object, object> map || !map.TryGetValue(key, out node))
            {
                return null;
            }
        }
        return node;
    }

    public static string? Str(object? node, params string[] path) => Get(node, path) as string;

    public static IEnumerable<object> Seq(object? node, params string[] path) =>
        Get(node, path) as List<object> ?? [];

    public static IEnumerable<object> Containers(ManifestDocument workload) =>
        Seq(workload.Root, "spec", "template", "spec", "containers")
            .Concat(Seq(workload.Root, "spec", "template", "spec", "initContainers"));

    public static List<string> Args(object container) =>
        Seq(container, "command").Concat(Seq(container, "args")).Select(a => Convert.ToString(a, CultureInfo.InvariantCulture) ?? "").ToList();

    private static List<string> FlagValues(List<string> args, string flag)
    {
        var values = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == flag && i + 1 < args.Count)
            {
                values.Add(args[i + 1]);
            }
            else if (args[i].StartsWith(flag + "=", StringComparison.Ordinal))
            {
                values.Add(args[i][(flag.Length + 1)..]);
            }
        }
        return values;
    }

    private static bool HasPort(object container, object port)
    {
        var text = Convert.ToString(port, CultureInfo.InvariantCulture) ?? "";
        var isNumber = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _);
        return Seq(container, "ports").Any(p => isNumber
            ? Str(p, "containerPort") == text
            : Str(p, "name") == text);
    }

    private static Dictionary<string, string> Labels(object? node) =>
        node is Dictionary<object, object> map
            ? map.ToDictionary(p => Convert.ToString(p.Key, CultureInfo.InvariantCulture) ?? "", p => Convert.ToString(p.Value, CultureInfo.InvariantCulture) ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    private static bool IsSubset(Dictionary<string, string> subset, Dictionary<string, string> of) =>
        subset.All(p => of.TryGetValue(p.Key, out var value) && value == p.Value);

    private static string Show(Dictionary<string, string> labels) =>
        "{" + string.Join(", ", labels.Select(p => $"{p.Key}={p.Value}")) + "}";

    private static string ImageName(string image)
    {
        var last = image.Split('/')[^1];
        var at = last.IndexOf('@', StringComparison.Ordinal);
        last = at >= 0 ? last[..at] : last;
        var colon = last.IndexOf(':', StringComparison.Ordinal);
        return colon >= 0 ? last[..colon] : last;
    }
}
