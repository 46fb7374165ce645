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
/// Checks deploy/: that the Kubernetes manifests parse and every name they reference exists, that
/// the systemd units are complete and start the executables with flags they accept, and that both
/// deploy with TLS and per-tier agent tokens. Every check returns a list of problems (empty when
/// all is well), so a test can feed it a broken sample and see the problem reported.
/// </summary>
public static partial class ManifestChecker
{
    /// <summary>Flags of the executables (docs/DESIGN.md section 5).</summary>
    public static readonly IReadOnlySet<string> AgentFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "--control-plane", "--tier", "--name", "--token-file", "--ca-file", "--ca-fingerprint", "--cache", "--cache-key-file", "--admin", "--bind",
        "--access-log", "--log-format", "--http-fast-path", "--tcp-relay",
    };

    /// <summary>
    /// Flags lb-controlplane accepts. --insecure is one of them, but <see cref="CheckTransportSecurity"/>
    /// and <see cref="CheckSystemdTransportSecurity"/> refuse it in a deployment.
    /// </summary>
    public static readonly IReadOnlySet<string> ControlPlaneFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "--data", "--listen", "--admin", "--san", "--insecure", "--rate-limit", "--log-format",
    };

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
        documents.AddRange(Generated(kustomization, "configMapGenerator", "ConfigMap", problems));
        documents.AddRange(Generated(kustomization, "secretGenerator", "Secret", problems));

        // As kustomize does: its namespace replaces that of every namespaced object.
        if (Str(kustomization.Root, "namespace") is { Length: > 0 } ns)
        {
            foreach (var document in documents.Where(d => d.Kind != "Namespace"))
            {
                if (Get(document.Root, "metadata") is Dictionary<object, object> metadata)
                {
                    metadata["namespace"] = ns;
                }
            }
        }
        return documents;
    }

    /// <summary>
    /// The ConfigMaps or Secrets a generator of the kustomization makes, with the keys of their
    /// data (the values are files an operator writes, not in the repository). Kustomize appends
    /// a content hash to the name and rewrites every reference, so references use the plain name.
    /// </summary>
    private static IEnumerable<ManifestDocument> Generated(ManifestDocument kustomization, string field, string kind, List<string> problems)
    {
        var index = 0;
        foreach (var generator in Seq(kustomization.Root, field))
        {
            index++;
            var name = Str(generator, "name");
            if (string.IsNullOrEmpty(name))
            {
                problems.Add($"kustomization.yaml: {field} entry {index} has no name");
                continue;
            }
            var data = new Dictionary<object, object>();
            foreach (var entry in Seq(generator, "files").Select(f => f as string ?? ""))
            {
                var equals = entry.IndexOf('=', StringComparison.Ordinal);
                var source = equals >= 0 ? entry[(equals + 1)..] : entry;
                if (source.Length == 0 || source.StartsWith('/') || source.Split('/').Contains(".."))
                {
                    problems.Add($"kustomization.yaml: {field} {name} reads '{source}', which is not a file inside the kustomization folder");
                }
                data[equals >= 0 ? entry[..equals] : source.Split('/')[^1]] = "";
            }
            foreach (var literal in Seq(generator, "literals").Select(l => l as string ?? ""))
            {
                if (kind == "Secret")
                {
                    problems.Add($"kustomization.yaml: {field} {name} has a literal: its secret value would be committed; read it from a file instead");
                }
                data[literal.Split('=', 2)[0]] = "";
            }
            if (data.Count == 0)
            {
                problems.Add($"kustomization.yaml: {field} {name} makes no key (only files and literals are understood here)");
            }
            var metadata = new Dictionary<object, object> { ["name"] = name };
            if (Get(generator, "options", "labels") is Dictionary<object, object> labels)
            {
                metadata["labels"] = labels;
            }
            if (Str(generator, "namespace") is { } ns)
            {
                metadata["namespace"] = ns;
            }
            yield return new ManifestDocument($"kustomization.yaml ({field})", index, new Dictionary<object, object>
            {
                ["apiVersion"] = "v1",
                ["kind"] = kind,
                ["metadata"] = metadata,
                ["data"] = data,
            });
        }
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

    // ---------------------------------------------------------------- TLS and tokens

    /// <summary>
    /// The Kubernetes rollout uses TLS and per-tier tokens. Every lb-controlplane serves https
    /// (no --insecure). Every lb-agent dials https:// URLs naming a Service of the manifests,
    /// on one of its ports, that selects a control plane whose certificate has that name (--san).
    /// It reads --ca-file and --token-file from read-only mounts of a ConfigMap or Secret of the
    /// manifests that holds the key; the token comes from a Secret that no other tier uses.
    /// The probes of both go to the plain-HTTP admin port, not to the TLS one.
    /// </summary>
    public static List<string> CheckTransportSecurity(IReadOnlyList<ManifestDocument> documents)
    {
        var problems = new List<string>();
        var workloads = documents.Where(d => WorkloadKinds.Contains(d.Kind)).ToList();
        var controlPlanes = new List<(ManifestDocument Workload, HashSet<string> Names)>();
        foreach (var workload in workloads)
        {
            foreach (var container in ContainersRunning(workload, "lb-controlplane"))
            {
                var args = Args(container);
                controlPlanes.Add((workload, ControlPlaneTlsNames($"{workload}: container {Str(container, "name")}", args, problems)));
                CheckProbesUseAdminPort(workload, container, AdminPort(args, "lb-controlplane"), problems);
            }
        }

        var tokenTiers = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var workload in workloads)
        {
            foreach (var container in ContainersRunning(workload, "lb-agent"))
            {
                var args = Args(container);
                var where = $"{workload}: container {Str(container, "name")}";
                CheckProbesUseAdminPort(workload, container, AdminPort(args, "lb-agent"), problems);
                var urls = ControlPlaneUrls(args);
                if (urls.Count == 0)
                {
                    problems.Add($"{where}: no --control-plane");
                }
                foreach (var url in urls)
                {
                    CheckAgentUrl(where, url, documents, controlPlanes, problems);
                }
                if (SingleFlag(where, args, "--ca-file", "the agent would trust the system's CAs, not the control plane's own", problems) is { } caFile)
                {
                    ResolveMountedFile(where, workload, container, "--ca-file", caFile, documents, problems);
                }
                if (SingleFlag(where, args, "--token-file", "the control plane refuses every call without a bearer token", problems) is { } tokenFile
                    && ResolveMountedFile(where, workload, container, "--token-file", tokenFile, documents, problems) is { } token)
                {
                    if (token.Kind != "Secret")
                    {
                        problems.Add($"{where}: --token-file {tokenFile} comes from {token.Kind} {token.Name}: a token belongs in a Secret");
                    }
                    else
                    {
                        if (!tokenTiers.TryGetValue(token.Name, out var tiers))
                        {
                            tokenTiers[token.Name] = tiers = new SortedSet<string>(StringComparer.Ordinal);
                        }
                        tiers.UnionWith(FlagValues(args, "--tier"));
                    }
                }
            }
        }
        foreach (var (secret, tiers) in tokenTiers.Where(p => p.Value.Count > 1))
        {
            problems.Add($"Secret {secret} holds the token of tiers {string.Join(", ", tiers)}: each tier needs its own agent token (one syncs a single tier)");
        }
        return problems;
    }

    /// <summary>
    /// The systemd path uses TLS and per-tier tokens. lb-controlplane, with the unit's
    /// Environment= defaults overridden by <paramref name="controlPlaneEnv"/>, serves https (no
    /// --insecure). Each tier's lb-agent@ instance, with its environment file, dials https:// URLs
    /// whose host is a name of that certificate, with one --ca-file and its own --token-file.
    /// </summary>
    public static List<string> CheckSystemdTransportSecurity(string controlPlaneUnit, string controlPlaneEnv, string agentUnit, IReadOnlyDictionary<string, string> agentEnvByTier)
    {
        ArgumentNullException.ThrowIfNull(agentEnvByTier);
        var problems = new List<string>();
        var names = ControlPlaneTlsNames("lb-controlplane.service with controlplane.env", ExpandExecStart(controlPlaneUnit, controlPlaneEnv, ""), problems);
        var tokenFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tier, env) in agentEnvByTier)
        {
            var where = $"lb-agent@{tier} with agent-{tier}.env";
            var args = ExpandExecStart(agentUnit, env, tier);
            var urls = ControlPlaneUrls(args);
            if (urls.Count == 0)
            {
                problems.Add($"{where}: no --control-plane");
            }
            foreach (var url in urls)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
                {
                    problems.Add($"{where}: --control-plane {url} is not an https:// URL");
                }
                else if (!names.Contains(uri.IdnHost.Trim('[', ']')))
                {
                    problems.Add($"{where}: --control-plane {url}: {uri.Host} is not a name of the control plane's certificate (LB_SAN or the LB_LISTEN address)");
                }
            }
            SingleFlag(where, args, "--ca-file", "the agent would trust the system's CAs, not the control plane's own", problems);
            if (SingleFlag(where, args, "--token-file", "the control plane refuses every call without a bearer token", problems) is { } tokenFile)
            {
                if (tokenFiles.TryGetValue(tokenFile, out var other))
                {
                    problems.Add($"{where}: lb-agent@{other} and lb-agent@{tier} share the token file {tokenFile}: each tier needs its own agent token");
                }
                else
                {
                    tokenFiles[tokenFile] = tier;
                }
            }
        }
        return problems;
    }

    /// <summary>
    /// Checks that lb-controlplane's arguments serve TLS, and returns the names its serving
    /// certificate covers, as the control plane makes it: localhost, 127.0.0.1, ::1, the
    /// --listen host unless it is a wildcard address, and every --san.
    /// </summary>
    public static HashSet<string> ControlPlaneTlsNames(string where, IReadOnlyList<string> args, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(problems);
        if (args.Contains("--insecure"))
        {
            problems.Add($"{where}: lb-controlplane runs with --insecure: plain HTTP, tokens and private keys unencrypted (for tests on one machine only)");
        }
        var names = new HashSet<string>(["localhost", "127.0.0.1", "::1"], StringComparer.OrdinalIgnoreCase);
        var listen = FlagValues(args, "--listen").LastOrDefault() ?? "https://127.0.0.1:7400";
        if (!Uri.TryCreate(listen, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            problems.Add($"{where}: --listen {listen} is not an https:// URL");
        }
        else if (uri.Host is not ("0.0.0.0" or "[::]"))
        {
            names.Add(uri.IdnHost.Trim('[', ']'));
        }
        names.UnionWith(FlagValues(args, "--san"));
        return names;
    }

    private static IEnumerable<object> ContainersRunning(ManifestDocument workload, string executable) =>
        Containers(workload).Where(c => ImageName(Str(c, "image") ?? "") == executable);

    private static List<string> ControlPlaneUrls(IReadOnlyList<string> args) =>
        FlagValues(args, "--control-plane")
            .SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToList();

    private static string? SingleFlag(string where, IReadOnlyList<string> args, string flag, string withoutIt, List<string> problems)
    {
        var values = FlagValues(args, flag);
        if (values.Count == 1 && values[0].Length > 0)
        {
            return values[0];
        }
        problems.Add(values.Count switch
        {
            0 => $"{where}: no {flag}: {withoutIt}",
            1 => $"{where}: {flag} is empty",
            _ => $"{where}: {flag} given {values.Count} times",
        });
        return null;
    }

    /// <summary>An agent's URL names a Service that selects a control plane whose certificate has that name.</summary>
    private static void CheckAgentUrl(string where, string url, IReadOnlyList<ManifestDocument> documents, List<(ManifestDocument Workload, HashSet<string> Names)> controlPlanes, List<string> problems)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            problems.Add($"{where}: --control-plane {url} is not an https:// URL");
            return;
        }
        // SERVICE.NAMESPACE.svc, or with the cluster domain after it (.svc.cluster.local).
        var labels = uri.IdnHost.Split('.');
        if (labels.Length < 3 || labels[2] != "svc")
        {
            problems.Add($"{where}: --control-plane {url} names no Service (SERVICE.NAMESPACE.svc)");
            return;
        }
        var service = documents.FirstOrDefault(d => d.Kind == "Service" && d.Name == labels[0] && Namespace(d) == labels[1]);
        if (service is null)
        {
            problems.Add($"{where}: --control-plane {url}: there is no Service {labels[0]} in namespace {labels[1]}");
            return;
        }
        if (!Seq(service.Root, "spec", "ports").Any(p => Str(p, "port") == uri.Port.ToString(CultureInfo.InvariantCulture)))
        {
            problems.Add($"{where}: --control-plane {url}: Service {labels[0]} has no port {uri.Port}");
        }
        var selector = Labels(Get(service.Root, "spec", "selector"));
        var selected = controlPlanes.Where(c => selector.Count > 0 && IsSubset(selector, Labels(Get(c.Workload.Root, "spec", "template", "metadata", "labels")))).ToList();
        if (selected.Count == 0)
        {
            problems.Add($"{where}: --control-plane {url}: Service {labels[0]} selects no lb-controlplane");
        }
        foreach (var (workload, _) in selected.Where(c => !c.Names.Contains(uri.IdnHost)))
        {
            problems.Add($"{where}: --control-plane {url}: {uri.Host} is not a name of {workload.Name}'s certificate (add --san {uri.Host})");
        }
    }

    private sealed record MountedFile(string Kind, string Name, string Key);

    /// <summary>
    /// The ConfigMap or Secret key that a container reads at <paramref name="path"/>: through the
    /// volumeMount with the longest matching mountPath (subPath and items honoured), which must
    /// be read-only, to an object of the manifests, in the workload's namespace, holding that key.
    /// </summary>
    private static MountedFile? ResolveMountedFile(string where, ManifestDocument workload, object container, string flag, string path, IReadOnlyList<ManifestDocument> documents, List<string> problems)
    {
        object? mount = null;
        var relative = "";
        var longest = -1;
        foreach (var candidate in Seq(container, "volumeMounts"))
        {
            var mountPath = (Str(candidate, "mountPath") ?? "").TrimEnd('/');
            var rest = Str(candidate, "subPath") is { Length: > 0 } subPath
                ? (path == mountPath ? subPath : null)
                : (path.StartsWith(mountPath + "/", StringComparison.Ordinal) ? path[(mountPath.Length + 1)..] : null);
            if (rest is not null && mountPath.Length > longest)
            {
                (mount, relative, longest) = (candidate, rest, mountPath.Length);
            }
        }
        if (mount is null)
        {
            problems.Add($"{where}: {flag} {path} is on no mounted volume");
            return null;
        }
        var volumeName = Str(mount, "name") ?? "";
        if (Str(mount, "readOnly") != "true")
        {
            problems.Add($"{where}: {flag} {path} is on volume {volumeName}, which is mounted writable (readOnly: true)");
        }
        var volume = Seq(workload.Root, "spec", "template", "spec", "volumes").FirstOrDefault(v => Str(v, "name") == volumeName);
        if (volume is null)
        {
            return null; // CheckReferences reports a mount of no volume
        }
        var sources = new List<(string Kind, string? Name, object Source)>();
        if (Get(volume, "secret") is { } secret)
        {
            sources.Add(("Secret", Str(secret, "secretName"), secret));
        }
        if (Get(volume, "configMap") is { } configMap)
        {
            sources.Add(("ConfigMap", Str(configMap, "name"), configMap));
        }
        foreach (var projected in Seq(volume, "projected", "sources"))
        {
            if (Get(projected, "secret") is { } projectedSecret)
            {
                sources.Add(("Secret", Str(projectedSecret, "name"), projectedSecret));
            }
            if (Get(projected, "configMap") is { } projectedConfigMap)
            {
                sources.Add(("ConfigMap", Str(projectedConfigMap, "name"), projectedConfigMap));
            }
        }
        if (sources.Count == 0)
        {
            problems.Add($"{where}: {flag} {path} is on volume {volumeName}, which is neither a ConfigMap nor a Secret");
            return null;
        }
        foreach (var (kind, name, source) in sources)
        {
            var items = Seq(source, "items").ToList();
            var key = items.Count > 0
                ? items.Where(i => Str(i, "path") == relative).Select(i => Str(i, "key")).FirstOrDefault()
                : (relative.Contains('/', StringComparison.Ordinal) ? null : relative);
            var target = documents.FirstOrDefault(d => d.Kind == kind && d.Name == name && Namespace(d) == Namespace(workload));
            if (key is not null && target is not null && new[] { "data", "stringData", "binaryData" }.Any(field => Get(target.Root, field) is Dictionary<object, object> data && data.ContainsKey(key)))
            {
                return new MountedFile(kind, name!, key);
            }
        }
        var why = sources.Select(s => documents.Any(d => d.Kind == s.Kind && d.Name == s.Name && Namespace(d) == Namespace(workload))
            ? $"no key {relative} in {s.Kind} {s.Name}"
            : $"{s.Kind} {s.Name} is not in the manifests (namespace {Namespace(workload)})");
        problems.Add($"{where}: {flag} {path} is no file of volume {volumeName}: {string.Join("; ", why)}");
        return null;
    }

    private static string Namespace(ManifestDocument document) => Str(document.Root, "metadata", "namespace") ?? "default";

    /// <summary>The port of the plain-HTTP admin endpoint: --admin, else the executable's default.</summary>
    private static int? AdminPort(IReadOnlyList<string> args, string executable)
    {
        if (FlagValues(args, "--admin").LastOrDefault() is { } admin)
        {
            return Uri.TryCreate(admin, UriKind.Absolute, out var adminUri) ? adminUri.Port : null;
        }
        if (executable == "lb-agent")
        {
            return 9900;
        }
        var listen = FlagValues(args, "--listen").LastOrDefault() ?? "https://127.0.0.1:7400";
        return Uri.TryCreate(listen, UriKind.Absolute, out var listenUri) ? listenUri.Port + 1 : null;
    }

    /// <summary>httpGet probes go to the admin port in plain HTTP; no grpc probe (it speaks plaintext, the API serves TLS).</summary>
    private static void CheckProbesUseAdminPort(ManifestDocument workload, object container, int? adminPort, List<string> problems)
    {
        var containerName = Str(container, "name") ?? "?";
        foreach (var probeKind in ProbeKinds)
        {
            if (Get(container, probeKind, "grpc") is not null)
            {
                problems.Add($"{workload}: {probeKind} of {containerName} is a grpc probe: it speaks plaintext, and the gRPC port serves TLS with tokens");
            }
            var httpGet = Get(container, probeKind, "httpGet");
            if (httpGet is null)
            {
                continue;
            }
            if (string.Equals(Str(httpGet, "scheme"), "HTTPS", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{workload}: {probeKind} of {containerName} uses HTTPS: the admin endpoint is plain HTTP");
            }
            var port = PortNumber(container, Get(httpGet, "port"));
            if (port is not null && port != adminPort)
            {
                problems.Add($"{workload}: {probeKind} of {containerName} goes to port {port}, not to the plain-HTTP admin port {adminPort} (--admin)");
            }
        }
    }

    private static int? PortNumber(object container, object? port)
    {
        var text = Convert.ToString(port, CultureInfo.InvariantCulture) ?? "";
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }
        var declared = Seq(container, "ports").FirstOrDefault(p => Str(p, "name") == text);
        return int.TryParse(Str(declared, "containerPort"), NumberStyles.None, CultureInfo.InvariantCulture, out number) ? number : null;
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

    /// <summary>
    /// The arguments of a unit's ExecStart (without the program): ${VAR} from Environment= lines,
    /// overridden by the environment file; %i is <paramref name="instance"/>.
    /// </summary>
    public static List<string> ExpandExecStart(string unitText, string envText, string instance)
    {
        var service = ParseUnit(unitText).GetValueOrDefault("Service") ?? [];
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var assignment in service.Where(p => p.Key == "Environment").SelectMany(p => p.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (assignment.Trim('"').Split('=', 2) is [var key, var value])
            {
                values[key] = value;
            }
        }
        foreach (var line in envText.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            if (line.Split('=', 2) is [var key, var value])
            {
                values[key.Trim()] = value.Trim().Trim('"');
            }
        }
        var execStart = service.Where(p => p.Key == "ExecStart").Select(p => p.Value).FirstOrDefault() ?? "";
        return execStart.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(word => Variable().Replace(word, m => values.GetValueOrDefault(m.Groups[1].Value, "")).Replace("%i", instance, StringComparison.Ordinal))
            .ToList();
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

    private static List<string> FlagValues(IReadOnlyList<string> args, string flag)
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
