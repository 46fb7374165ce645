using System.Text.Json.Nodes;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LoadBalancer.Cli.Connection;

/// <summary>
/// The config file (default ~/.config/lbctl/config.yaml, or $LBCTL_CONFIG):
/// <code>
/// server: https://cp.example:7400
/// tokenFile: /home/me/.config/lbctl/token
/// caFile: /home/me/.config/lbctl/ca.crt        # or caFingerprint: AB:CD:...
/// </code>
/// </summary>
internal sealed record ClientConfig(string? Server, string? TokenFile, string? CaFile, string? CaFingerprint = null)
{
    private static readonly string[] Keys = ["server", "tokenFile", "caFile", "caFingerprint"];

    /// <summary>The config file, or null when it does not exist.</summary>
    public static ClientConfig? Load(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(path))
            {
                stream.Load(new TrackingParser(new Parser(reader)));
            }
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: "" or null })
            {
                return new ClientConfig(null, null, null);
            }
            if (stream.Documents[0].RootNode is not YamlMappingNode mapping)
            {
                throw new CliException($"config file {path}: expected a mapping of {string.Join(", ", Keys)}");
            }
            string? Value(string key) =>
                mapping.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlScalarNode { Value: { Length: > 0 } v } ? v : null;
            foreach (var key in mapping.Children.Keys)
            {
                if (key is not YamlScalarNode { Value: { } k } || !Keys.Contains(k))
                {
                    throw new CliException($"config file {path}: unknown key {key} (expected {string.Join(", ", Keys)})");
                }
            }
            return new ClientConfig(Value("server"), Value("tokenFile"), Value("caFile"), Value("caFingerprint"));
        }
        catch (YamlException ex)
        {
            throw new CliException($"config file {path}: invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new CliException($"config file {path}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Writes the file readable by its owner only (0600, directory 0700), created with that mode
    /// so that a token path or server address is never briefly world-readable.
    /// </summary>
    public void Save(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var document = new JsonObject();
        foreach (var (key, value) in new[] { ("server", Server), ("tokenFile", TokenFile), ("caFile", CaFile), ("caFingerprint", CaFingerprint) })
        {
            if (value is not null)
            {
                document[key] = value;
            }
        }

        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var writer = new StreamWriter(path, options))
        {
            writer.WriteLine("# lbctl configuration; flags and LBCTL_* environment variables take precedence.");
            writer.Write(YamlWriter.ToYaml(document));
        }
        if (!OperatingSystem.IsWindows())
        {
            // UnixCreateMode applies only when the file is new; an existing file is tightened too.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
