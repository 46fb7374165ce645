using System.CommandLine;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;
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

        var includeKeys = new Option<bool>("--include-keys")
        {
            Description = "Also export each certificate's private key (admin token only; audited). The output is then a secret: -o files are written 0600",
        };

        var command = new Command("export", "Write every pool, backend, listener and certificate as YAML for apply -f (private keys only with --include-keys)");
        command.Options.Add(output);
        command.Options.Add(includeKeys);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var withKeys = parseResult.GetValue(includeKeys);
            var file = parseResult.GetValue(output) is { } name ? Path.GetFullPath(name, context.Environment.CurrentDirectory) : null;
            // With keys the file is a secret: reserved owner-only before any key is fetched, so a
            // bad path fails first and a refused call leaves an existing file as it was.
            using var secretFile = withKeys && file is not null ? SecretFile.Reserve(file) : null;
            var resources = new List<(ApiKind Kind, IMessage Message)>();
            foreach (var kind in ManifestProjection.ApplyOrder)
            {
                var items = await kind.ListAsync(context.Client, new ListRequest(), cancellationToken);
                foreach (var item in items.OrderBy(ApiKind.NameOf, StringComparer.Ordinal))
                {
                    if (withKeys && item is Certificate certificate)
                    {
                        var key = await context.Client.ExportCertificateKeyAsync(new GetRequest { Name = certificate.Metadata.Name }, cancellationToken: cancellationToken);
                        certificate.Spec.PrivateKeyPem = key.PrivateKeyPem;
                    }
                    resources.Add((kind, item));
                }
            }

            var text = Render(resources, withKeys);
            if (secretFile is not null)
            {
                secretFile.Commit(text);
            }
            else if (file is not null)
            {
                await File.WriteAllTextAsync(file, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), cancellationToken);
            }
            else
            {
                await context.Out.WriteAsync(text);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The manifest text: documents in the given order, a note above each certificate.</summary>
    public static string Render(IEnumerable<(ApiKind Kind, IMessage Message)> resources, bool withKeys = false)
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
            if (kind == ApiKinds.Certificate && withKeys)
            {
                text.Append(CultureInfo.InvariantCulture, $"# Holds the private key of certificate {ApiKind.NameOf(message)}: keep this file secret.\n");
            }
            else if (kind == ApiKinds.Certificate)
            {
                var name = ApiKind.NameOf(message);
                text.Append(CultureInfo.InvariantCulture, $"# The private key of certificate {name} is not exported (the server never returns it).\n");
                text.Append("# Applying this file to the control plane it came from leaves the stored key as it is; to apply it\n");
                text.Append("# to an empty control plane, add spec.privateKeyFile: <path to the PEM key>.\n");
            }
            text.Append(YamlWriter.ToYaml(ManifestProjection.ToDocument(kind, message, keepPrivateKey: withKeys)).ReplaceLineEndings("\n"));
        }
        return text.ToString();
    }
}
