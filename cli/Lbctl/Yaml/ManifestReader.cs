using System.Text.Json.Nodes;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Resources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LoadBalancer.Cli.Yaml;

/// <summary>Where manifest text comes from: a file, or stdin for "-f -".</summary>
internal sealed record ManifestSource(string DisplayName, string BaseDirectory, Func<TextReader> Open);

/// <summary>One document of a manifest, parsed into its proto message.</summary>
internal sealed record ManifestResource(ApiKind Kind, string Name, IMessage Message, string Source, int Document)
{
    public string Ref => Kind.Ref(Name);

    public Resource ToResource() => Kind.ToResource!(Message);
}

/// <summary>
/// Reads <c>apply -f</c> manifests: multi-document YAML, each document
/// <c>apiVersion: lb/v1</c>, <c>kind</c>, <c>metadata</c>, <c>spec</c> (a <c>status</c> is ignored,
/// so the output of <c>get -o yaml</c> can be applied again).
/// </summary>
internal static class ManifestReader
{
    public const string ApiVersion = "lb/v1";
    public const string StdinName = "<stdin>";

    private static readonly string[] CertificateFileKeys = ["certificateFile", "privateKeyFile"];

    /// <summary>
    /// Expands the -f arguments: "-" is stdin, a directory gives its *.yaml and *.yml files in
    /// name order, anything else is a file.
    /// </summary>
    public static IReadOnlyList<ManifestSource> ResolveSources(IEnumerable<string> paths, TextReader stdin, string currentDirectory)
    {
        var sources = new List<ManifestSource>();
        var stdinUsed = false;
        foreach (var path in paths)
        {
            if (path == "-")
            {
                if (stdinUsed)
                {
                    throw new ManifestException("stdin (-f -) can be given only once");
                }
                stdinUsed = true;
                // Read once, now: a TextReader over stdin cannot be rewound.
                var text = stdin.ReadToEnd();
                sources.Add(new ManifestSource(StdinName, currentDirectory, () => new StringReader(text)));
                continue;
            }

            var full = Path.GetFullPath(path, currentDirectory);
            if (Directory.Exists(full))
            {
                var files = Directory.EnumerateFiles(full)
                    .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal)
                    .ToList();
                if (files.Count == 0)
                {
                    throw new ManifestException($"{path}: directory has no *.yaml or *.yml files");
                }
                sources.AddRange(files.Select(f => FileSource(Path.Join(path, Path.GetFileName(f)), f)));
            }
            else if (File.Exists(full))
            {
                sources.Add(FileSource(path, full));
            }
            else
            {
                throw new ManifestException($"{path}: no such file or directory");
            }
        }
        return sources;
    }

    private static ManifestSource FileSource(string displayName, string fullPath) =>
        new(displayName, Path.GetDirectoryName(fullPath)!, () => new StreamReader(fullPath));

    /// <summary>
    /// Parses every source; resource names must be unique per kind across all of them.
    /// With <paramref name="loadFiles"/> false, certificateFile/privateKeyFile are not read
    /// (delete -f only needs names).
    /// </summary>
    /// Every problem of every document (unknown fields with their line, a bad value, invalid
    /// YAML) is reported in one exception, one line each, so that one run shows them all.
    public static IReadOnlyList<ManifestResource> Read(IEnumerable<ManifestSource> sources, bool loadFiles = true)
    {
        var resources = new List<ManifestResource>();
        var problems = new List<string>();
        var seen = new Dictionary<string, ManifestResource>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            List<ManifestResource> read;
            try
            {
                read = ReadSource(source, loadFiles, problems);
            }
            catch (ManifestException ex)
            {
                problems.Add(ex.Message);
                continue;
            }
            foreach (var resource in read)
            {
                if (seen.TryGetValue(resource.Ref, out var first))
                {
                    throw new ManifestException(
                        $"{resource.Source} document {resource.Document} ({resource.Kind.Kind}/{resource.Name}): " +
                        $"{resource.Ref} is already defined in {first.Source} document {first.Document}");
                }
                seen.Add(resource.Ref, resource);
                resources.Add(resource);
            }
        }
        if (problems.Count > 0)
        {
            throw new ManifestException(problems.Count == 1
                ? problems[0]
                : $"{problems.Count} problems:\n  " + string.Join("\n  ", problems));
        }
        return resources;
    }

    private static List<ManifestResource> ReadSource(ManifestSource source, bool loadFiles, List<string> problems)
    {
        var stream = new YamlStream();
        TrackingParser? parser = null;
        try
        {
            using var reader = source.Open();
            parser = new TrackingParser(new Parser(reader));
            stream.Load(parser);
        }
        catch (YamlException ex)
        {
            throw new ManifestException(
                $"{source.DisplayName}: invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex) when (parser is not null)
        {
            var mark = parser.LastEnd;
            throw new ManifestException(
                $"{source.DisplayName}: invalid YAML after line {mark.Line}, column {mark.Column}: unterminated or malformed construct", ex);
        }
        catch (IOException ex)
        {
            throw new ManifestException($"{source.DisplayName}: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ManifestException($"{source.DisplayName}: {ex.Message}", ex);
        }

        var resources = new List<ManifestResource>();
        for (var i = 0; i < stream.Documents.Count; i++)
        {
            var root = stream.Documents[i].RootNode;
            // A trailing "---" or a document of comments only is not a resource.
            if (YamlToJson.IsNull(root))
            {
                continue;
            }
            try
            {
                resources.Add(ReadDocument(root, source, i + 1, loadFiles));
            }
            catch (ManifestDocumentException ex)
            {
                problems.AddRange(ex.Problems);
            }
            catch (ManifestException ex)
            {
                problems.Add(ex.Message);
            }
        }
        return resources;
    }

    /// <summary>Every problem found in one document, each a complete line with its place.</summary>
    private sealed class ManifestDocumentException(IReadOnlyList<string> problems) : Exception(string.Join("\n", problems))
    {
        public IReadOnlyList<string> Problems { get; } = problems;
    }

    private static ManifestResource ReadDocument(YamlNode root, ManifestSource source, int number, bool loadFiles)
    {
        var context = $"{source.DisplayName} document {number}";
        var unknown = new List<YamlToJson.FieldException>();
        string At(YamlToJson.FieldException ex) => $"{context}, line {ex.Start.Line}: {ex.Message}";
        try
        {
            if (root is not YamlMappingNode mapping)
            {
                throw new YamlToJson.FieldException(
                    $"expected a mapping with apiVersion, kind, metadata and spec, got {YamlToJson.Describe(root)}", root.Start);
            }

            YamlNode? apiVersion = null, kindNode = null, metadata = null, spec = null;
            foreach (var (keyNode, value) in mapping.Children)
            {
                switch (YamlToJson.KeyText(keyNode, "the document"))
                {
                    case "apiVersion": apiVersion = value; break;
                    case "kind": kindNode = value; break;
                    case "metadata": metadata = value; break;
                    case "spec": spec = value; break;
                    case "status": break; // server-written; present in `get -o yaml` output
                    case var other:
                        var near = Cli.Spelling.Closest(other, ["apiVersion", "kind", "metadata", "spec"]);
                        unknown.Add(new YamlToJson.FieldException($"unknown field \"{other}\" at the top level{(near is null ? "" : $"; did you mean \"{near}\"?")}", keyNode.Start));
                        break;
                }
            }

            var version = (apiVersion as YamlScalarNode)?.Value;
            if (apiVersion is null || YamlToJson.IsNull(apiVersion))
            {
                throw new YamlToJson.FieldException($"missing apiVersion (expected \"{ApiVersion}\")", root.Start);
            }
            if (version != ApiVersion)
            {
                throw new YamlToJson.FieldException(
                    $"unsupported apiVersion {YamlToJson.Describe(apiVersion)} (expected \"{ApiVersion}\")", apiVersion.Start);
            }

            if (kindNode is null || YamlToJson.IsNull(kindNode))
            {
                throw new YamlToJson.FieldException("missing kind (Pool, Backend, Listener or Certificate)", root.Start);
            }
            var kind = ApiKinds.FromManifestKind((kindNode as YamlScalarNode)?.Value)
                ?? throw new YamlToJson.FieldException(
                    $"unknown kind {YamlToJson.Describe(kindNode)} (expected Pool, Backend, Listener or Certificate)", kindNode.Start);
            context = $"{context} ({kind.Kind})";

            var name = metadata is YamlMappingNode meta
                && meta.Children.TryGetValue(new YamlScalarNode("name"), out var nameNode)
                && nameNode is YamlScalarNode { Value: { Length: > 0 } text }
                && !YamlToJson.IsNull(nameNode)
                    ? text
                    : throw new YamlToJson.FieldException("missing metadata.name", (metadata ?? root).Start);
            context = $"{source.DisplayName} document {number} ({kind.Kind}/{name})";

            if (kind == ApiKinds.Certificate && spec is YamlMappingNode certSpec)
            {
                spec = ResolveCertificateFiles(certSpec, source.BaseDirectory, loadFiles);
            }

            var json = new JsonObject
            {
                ["metadata"] = YamlToJson.ConvertMessage(metadata!, ObjectMeta.Descriptor, "metadata", unknown),
            };
            if (spec is not null)
            {
                json["spec"] = YamlToJson.ConvertMessage(spec, kind.Descriptor.FindFieldByName("spec").MessageType, "spec", unknown);
            }
            if (unknown.Count > 0)
            {
                throw new ManifestDocumentException(unknown.Select(At).ToList());
            }

            // The walk above already enforced the schema; the parser turns JSON into the message.
            var message = JsonParser.Default.Parse(json.ToJsonString(), kind.Descriptor);
            return new ManifestResource(kind, name, message, source.DisplayName, number);
        }
        catch (YamlToJson.FieldException ex)
        {
            // The unknown fields found before this error are reported with it.
            throw new ManifestDocumentException([.. unknown.Select(At), At(ex)]);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ManifestException($"{context}: {ex.Message}", ex);
        }
        catch (InvalidJsonException ex)
        {
            throw new ManifestException($"{context}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Replaces spec.certificateFile / spec.privateKeyFile (paths relative to the manifest's
    /// directory) with spec.certificatePem / spec.privateKeyPem holding the files' contents.
    /// </summary>
    private static YamlMappingNode ResolveCertificateFiles(YamlMappingNode spec, string baseDirectory, bool loadFiles)
    {
        var result = new YamlMappingNode();
        var keys = spec.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).ToHashSet();
        foreach (var (keyNode, value) in spec.Children)
        {
            var key = YamlToJson.KeyText(keyNode, "spec");
            if (!CertificateFileKeys.Contains(key))
            {
                result.Add(keyNode, value);
                continue;
            }

            var pemKey = key == "certificateFile" ? "certificatePem" : "privateKeyPem";
            if (keys.Contains(pemKey))
            {
                throw new YamlToJson.FieldException($"spec.{key} and spec.{pemKey} cannot both be given", keyNode.Start);
            }
            if (!loadFiles)
            {
                continue;
            }
            if (value is not YamlScalarNode { Value: { Length: > 0 } relative } || YamlToJson.IsNull(value))
            {
                throw new YamlToJson.FieldException($"spec.{key}: expected a file path, got {YamlToJson.Describe(value)}", value.Start);
            }

            var path = Path.GetFullPath(relative, baseDirectory);
            var content = ReadPemFile(path, key, value.Start);
            result.Add(new YamlScalarNode(pemKey), new YamlScalarNode(content) { Style = ScalarStyle.Literal });
        }
        return result;
    }

    /// <summary>Largest certificateFile/privateKeyFile read: a chain of a dozen certificates fits easily.</summary>
    public const int MaxPemFileBytes = 1024 * 1024;

    /// <summary>
    /// Reads a file a manifest names, as little as a hostile manifest could abuse: only a regular
    /// file of 1 byte to <see cref="MaxPemFileBytes"/> (a FIFO would hang the reader, /dev/zero
    /// never ends, and /proc files such as /proc/self/environ report a size of 0), and only if it
    /// holds the PEM it is named for, so that no other file's content goes on to be sent or shown.
    /// Errors never quote the file's content.
    /// </summary>
    private static string ReadPemFile(string path, string key, YamlDotNet.Core.Mark at)
    {
        var info = new FileInfo(path);
        if (Directory.Exists(path))
        {
            throw new YamlToJson.FieldException($"spec.{key}: \"{path}\" is a directory; it must be a regular file", at);
        }
        if (!info.Exists)
        {
            throw new YamlToJson.FieldException($"spec.{key}: cannot read \"{path}\": file not found", at);
        }
        // Devices, FIFOs, sockets and /proc files all report a size of 0: refused before they are opened.
        if (info.Length is 0 or > MaxPemFileBytes)
        {
            throw new YamlToJson.FieldException(
                $"spec.{key}: \"{path}\" must be a regular file of 1 to {MaxPemFileBytes} bytes (it is {(info.Length == 0 ? "empty, or a device, FIFO or special file" : $"{info.Length} bytes")})", at);
        }
        string content;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            // Bounded again while reading: the file may have grown since it was measured.
            var buffer = new byte[MaxPemFileBytes + 1];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = stream.Read(buffer, total, buffer.Length - total)) > 0)
            {
                total += read;
            }
            if (total > MaxPemFileBytes)
            {
                throw new YamlToJson.FieldException($"spec.{key}: \"{path}\" must be a regular file of 1 to {MaxPemFileBytes} bytes (it grew past that while read)", at);
            }
            content = new System.Text.UTF8Encoding(false, true).GetString(buffer, 0, total);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var reason = ex is FileNotFoundException or DirectoryNotFoundException ? "file not found" : ex.Message;
            throw new YamlToJson.FieldException($"spec.{key}: cannot read \"{path}\": {reason}", at);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new YamlToJson.FieldException($"spec.{key}: \"{path}\" is not text (a PEM file is)", at);
        }
        var expected = key == "certificateFile" ? "a PEM certificate (-----BEGIN CERTIFICATE-----)" : "a PEM private key (-----BEGIN ... PRIVATE KEY-----)";
        var isPem = key == "certificateFile"
            ? content.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
            : System.Text.RegularExpressions.Regex.IsMatch(content, "-----BEGIN [A-Z ]*PRIVATE KEY-----");
        if (!isPem)
        {
            throw new YamlToJson.FieldException($"spec.{key}: \"{path}\" must hold {expected}; its content is not shown", at);
        }
        return content;
    }
}
