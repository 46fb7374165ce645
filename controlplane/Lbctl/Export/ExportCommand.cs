using System.CommandLine;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Export;

/// <summary>
/// <c>lbctl export [-o FILE]</c>: every certificate, pool, backend and listener as one
/// multi-document manifest that <c>lbctl apply -f</c> takes back unchanged.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CommandRunner runner)
    {
        var output = new Option<string?>("--output", "-o")
        {
            Description = "Write to this file instead of stdout (overwritten)",
            HelpName = "FILE",
        };

        var command = new Command("export", "Write every pool, backend, listener and certificate as YAML for apply -f (private keys are not exported)");
        command.Options.Add(output);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var resources = new List<(ResourceKind Kind, IMessage Message)>();
            foreach (var kind in ManifestProjection.ApplyOrder)
            {
                var items = await kind.ListAsync(context.Client, new ListRequest(), cancellationToken);
                resources.AddRange(items
                    .OrderBy(ResourceKind.NameOf, StringComparer.Ordinal)
                    .Select(item => (kind, item)));
            }

            var text = Render(resources);
            var file = parseResult.GetValue(output);
            if (file is null)
            {
                await context.Out.WriteAsync(text);
            }
            else
            {
                var path = Path.GetFullPath(file, context.Environment.CurrentDirectory);
                await File.WriteAllTextAsync(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), cancellationToken);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The manifest text: documents in the given order, a note above each certificate.</summary>
    public static string Render(IEnumerable<(ResourceKind Kind, IMessage Message)> resources)
    {
        var text = new StringBuilder();
        var first = true;
        foreach (var (kind, message) in resources)
        {
            if (!first)
            {
                text.Append("---\n");
            }
            first = false;
            if (kind == ResourceKinds.Certificate)
            {
                var name = ResourceKind.NameOf(message);
                text.Append(CultureInfo.InvariantCulture, $"# The private key of certificate {name} is not exported (the server never returns it).\n");
                text.Append("# Applying this file to the control plane it came from leaves the stored key as it is; to apply it\n");
                text.Append("# to an empty control plane, add spec.privateKeyFile: <path to the PEM key>.\n");
            }
            text.Append(YamlWriter.ToYaml(ManifestProjection.ToDocument(kind, message)).ReplaceLineEndings("\n"));
        }
        return text.ToString();
    }
}
