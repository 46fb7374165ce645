using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Resources;

namespace LoadBalancer.Cli.Certificates;

/// <summary><c>lbctl cert rotate NAME --cert F --key F</c>: new PEMs, same name and labels.</summary>
internal static class CertCommand
{
    public static Command Create(CommandRunner runner)
    {
        var command = new Command("cert", "Certificate operations");
        command.Aliases.Add("certificate");
        command.Subcommands.Add(RotateCommand(runner));
        command.Subcommands.Add(SelfSignedCommand(runner));
        return command;
    }

    /// <summary>
    /// <c>lbctl cert self-signed --host NAME... --cert-out F --key-out F [--ca-out F] [--days N]</c>:
    /// a throwaway CA and a leaf it signs, for demos and tests (clients trust the CA file).
    /// </summary>
    private static Command SelfSignedCommand(CommandRunner runner)
    {
        var hosts = new Option<string[]>("--host") { Description = "DNS name the certificate is for (repeat for several)", Required = true, AllowMultipleArgumentsPerToken = true, HelpName = "NAME" };
        var certOut = new Option<string>("--cert-out") { Description = "Where to write the certificate (PEM)", Required = true, HelpName = "FILE" };
        var keyOut = new Option<string>("--key-out") { Description = "Where to write the private key (PEM, mode 0600)", Required = true, HelpName = "FILE" };
        var caOut = new Option<string?>("--ca-out") { Description = "Where to write the signing CA certificate, for clients to trust", HelpName = "FILE" };
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 90 };

        var command = new Command("self-signed", "Create a certificate signed by a new throwaway CA (no server call)");
        command.Options.Add(hosts);
        command.Options.Add(certOut);
        command.Options.Add(keyOut);
        command.Options.Add(caOut);
        command.Options.Add(days);
        runner.SetAction(command, (parseResult, context, _) =>
        {
            var names = parseResult.GetValue(hosts)!;
            var validity = parseResult.GetValue(days);
            if (validity is < 1 or > 825)
            {
                throw new CliException("--days must be between 1 and 825");
            }
            var directory = context.Environment.CurrentDirectory;
            var (caPem, certificatePem, keyPem) = SelfSigned.Create(names, TimeSpan.FromDays(validity));
            Write(Path.GetFullPath(parseResult.GetValue(certOut)!, directory), certificatePem, secret: false);
            Write(Path.GetFullPath(parseResult.GetValue(keyOut)!, directory), keyPem, secret: true);
            if (parseResult.GetValue(caOut) is { } ca)
            {
                Write(Path.GetFullPath(ca, directory), caPem, secret: false);
            }
            context.Out.WriteLine($"certificate for {string.Join(", ", names)} written ({validity} days)");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static void Write(string path, string text, bool secret)
    {
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (secret && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using var writer = new StreamWriter(path, System.Text.Encoding.ASCII, options);
            writer.Write(text);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {path}: {ex.Message}", ex);
        }
    }

    private static Command RotateCommand(CommandRunner runner)
    {
        var nameArgument = NameArgument.Create<string>("Certificate name", ArgumentArity.ExactlyOne);
        runner.Names.AddTo(nameArgument, ApiKinds.Certificate);
        var certFile = new Option<string>("--cert") { Description = "PEM file: the new certificate, leaf first, then its chain", Required = true, HelpName = "FILE" };
        var keyFile = new Option<string>("--key") { Description = "PEM file: the new private key", Required = true, HelpName = "FILE" };

        var command = new Command("rotate", "Replace a certificate and its key; listeners using it pick it up");
        command.Arguments.Add(nameArgument);
        command.Options.Add(certFile);
        command.Options.Add(keyFile);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var name = parseResult.GetValue(nameArgument)!;
            var directory = context.Environment.CurrentDirectory;
            var certificatePem = ReadPem(Path.GetFullPath(parseResult.GetValue(certFile)!, directory), "certificate");
            var privateKeyPem = ReadPem(Path.GetFullPath(parseResult.GetValue(keyFile)!, directory), "private key");

            var updated = await ConflictRetry.RunAsync(async () =>
            {
                var certificate = await context.Client.GetCertificateAsync(new GetRequest { Name = name }, cancellationToken: cancellationToken);
                certificate.Spec = new CertificateSpec { CertificatePem = certificatePem, PrivateKeyPem = privateKeyPem };
                certificate.Status = null;
                return await context.Client.UpdateCertificateAsync(new WriteCertificateRequest { Certificate = certificate }, cancellationToken: cancellationToken);
            }, cancellationToken);

            var fingerprint = updated.Status?.FingerprintSha256 is { Length: > 0 } f ? f : LocalFingerprint(certificatePem);
            context.Out.WriteLine($"certificate/{name} rotated (fingerprint {fingerprint})");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string ReadPem(string path, string what)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.Length > 0 ? text : throw new InputException($"{what} file {path} is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {what} file {path}: {ex.Message}", ex);
        }
    }

    /// <summary>Fallback when the server's answer carries no status: the leaf's SHA-256, as the server computes it.</summary>
    private static string LocalFingerprint(string certificatePem)
    {
        try
        {
            using var leaf = X509Certificate2.CreateFromPem(certificatePem);
            return leaf.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
        }
        catch (CryptographicException)
        {
            return "unknown";
        }
    }
}
