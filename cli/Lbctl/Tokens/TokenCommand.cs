using System.CommandLine;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Tokens;

/// <summary><c>lbctl token create|list|revoke</c>: the API tokens of the control plane (admin only).</summary>
internal static class TokenCommand
{
    public static readonly string[] Roles = ["admin", "viewer", "agent"];

    public static Command Create(CommandRunner runner)
    {
        var command = new Command("token", "Create, list and revoke API tokens");
        command.Subcommands.Add(CreateCommand(runner));
        command.Subcommands.Add(ListCommand(runner));
        command.Subcommands.Add(RevokeCommand(runner));
        return command;
    }

    private static Command CreateCommand(CommandRunner runner)
    {
        var role = new Option<string>("--role")
        {
            Description = "admin (everything), viewer (reads, never a private key) or agent (the sync stream of one tier)",
            Required = true,
            HelpName = "ROLE",
        };
        role.AcceptOnlyFromAmong(Roles);
        var tier = new Option<string?>("--tier") { Description = "The tier an agent token may sync (agent tokens only, required for them)", HelpName = "TIER" };
        var description = new Option<string?>("--description") { Description = "What the token is for", HelpName = "TEXT" };
        var ttl = new Option<string?>("--ttl") { Description = "How long it is valid, e.g. 90d, 12h, 30m (default: never expires)", HelpName = "DURATION" };
        var outputFile = new Option<string?>("--output-file")
        {
            Description = "Write the secret to this file (mode 0600) instead of printing it",
            HelpName = "FILE",
        };

        var command = new Command("create", "Create a token; its secret is shown once and never again");
        command.Options.Add(role);
        command.Options.Add(tier);
        command.Options.Add(description);
        command.Options.Add(ttl);
        command.Options.Add(outputFile);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var request = new CreateTokenRequest
            {
                Role = parseResult.GetValue(role)!,
                Tier = parseResult.GetValue(tier) ?? "",
                Description = parseResult.GetValue(description) ?? "",
                Ttl = parseResult.GetValue(ttl) ?? "",
            };
            if (request.Role == "agent" && request.Tier.Length == 0)
            {
                throw new UsageException("an agent token needs --tier: it may sync that one tier only");
            }
            if (request.Role != "agent" && request.Tier.Length > 0)
            {
                throw new UsageException($"--tier is for agent tokens only; a {request.Role} token is not bound to a tier");
            }

            // Reserved before the call: a path that cannot be written fails before a token
            // exists whose secret would have nowhere to go.
            using var secretFile = parseResult.GetValue(outputFile) is { } path
                ? SecretFile.Reserve(Path.GetFullPath(path, context.Environment.CurrentDirectory))
                : null;
            var created = await context.Access.CreateTokenAsync(request, cancellationToken: cancellationToken);

            var token = created.Token ?? new Token();
            TokenText.WriteSummary(context.Out, token, context.Now);
            if (secretFile is null)
            {
                context.Out.WriteLine($"Secret:       {created.Secret}");
                context.Out.WriteLine("The secret cannot be shown again: store it now (a file for --token-file, mode 0600).");
                return ExitCodes.Success;
            }
            try
            {
                secretFile.Commit(created.Secret + "\n");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CliException(
                    $"token {token.Id} was created but its secret could not be written to {secretFile.Path}: {ex.Message}; " +
                    $"revoke it with: lbctl token revoke {token.Id}", ex);
            }
            context.Out.WriteLine($"Secret:       written to {secretFile.Path} (mode 0600); it cannot be shown again");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ListCommand(CommandRunner runner)
    {
        var all = new Option<bool>("--all") { Description = "Also list revoked and expired tokens" };
        var output = OutputOption.Create();

        var command = new Command("list", "List tokens, newest first (never their secrets)");
        command.Aliases.Add("ls");
        command.Options.Add(all);
        command.Options.Add(output);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var list = await context.Access.ListTokensAsync(new ListTokensRequest { All = parseResult.GetValue(all) }, cancellationToken: cancellationToken);
            ListOutput.Write(context, parseResult.GetValue(output), list.Items, "No tokens found.", TokenText.Headers, t => TokenText.Row(t, context.Now));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command RevokeCommand(CommandRunner runner)
    {
        var id = new Argument<string>("ID") { Description = "Token id, as token list shows it (t-...)" };
        id.Validators.Add(result =>
        {
            // As for NAME: ids never start with '-', so this is a mistyped option.
            if (result.Tokens is [{ Value: ['-', ..] value }])
            {
                result.AddError($"unknown option \"{value}\"");
            }
        });

        var command = new Command("revoke", "Revoke a token: it stops working at once, also on open agent streams");
        command.Arguments.Add(id);
        runner.SetAction(command, async (parseResult, context, cancellationToken) =>
        {
            var revoked = await context.Access.RevokeTokenAsync(new RevokeTokenRequest { Id = parseResult.GetValue(id)! }, cancellationToken: cancellationToken);
            context.Out.WriteLine($"token {revoked.Id} revoked");
            return ExitCodes.Success;
        });
        return command;
    }
}
