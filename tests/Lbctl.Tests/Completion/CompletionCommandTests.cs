using System.Diagnostics;
using LoadBalancer.Cli.Completion;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Completion;

/// <summary>
/// <c>lbctl completion SHELL</c> and the completer the scripts call (<c>[suggest:N]</c>). Names
/// from a real control plane are covered end to end (EndToEnd.Tests, Completion).
/// </summary>
public sealed class CompletionCommandTests
{
    [Theory]
    [InlineData("bash", "complete -o default -F _lbctl_completions lbctl")]
    [InlineData("zsh", "compdef _lbctl lbctl")]
    [InlineData("fish", "complete -c lbctl -f -a '(__lbctl_complete)'")]
    [InlineData("powershell", "Register-ArgumentCompleter -Native -CommandName lbctl")]
    public async Task Completion_EachShell_PrintsAScriptThatRegistersLbctlsCompleter(string shell, string registration)
    {
        using var cli = new CliHarness();

        var (exitCode, output, error) = await cli.RunAsync("completion", shell);

        Assert.True(exitCode == 0, error);
        Assert.Contains(registration, output, StringComparison.Ordinal);
        // Every script hands the line to lbctl's own completer.
        Assert.Contains("[suggest:", output, StringComparison.Ordinal);
        Assert.Equal(CompletionCommand.Script(shell), output);
    }

    [Fact]
    public async Task Completion_UnknownShell_IsAUsageError()
    {
        using var cli = new CliHarness();

        var (exitCode, _, error) = await cli.RunAsync("completion", "tcsh");

        Assert.Equal(2, exitCode);
        Assert.Contains("tcsh", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BashScript_IsValidBash()
    {
        var script = Path.Combine(Path.GetTempPath(), $"lbctl-completion-{Guid.NewGuid():N}.bash");
        await File.WriteAllTextAsync(script, CompletionCommand.Script("bash"));
        try
        {
            using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", script]) { RedirectStandardError = true })!;
            var error = await bash.StandardError.ReadToEndAsync();
            await bash.WaitForExitAsync();
            Assert.True(bash.ExitCode == 0, error);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Theory]
    [InlineData("lbctl ", new[] { "apply", "backend", "completion", "delete", "describe", "get", "status", "version", "--server", "--token-file" })]
    [InlineData("lbctl get ", new[] { "pools", "pool", "backends", "listeners", "certificates", "agents" })]
    [InlineData("lbctl describe li", new[] { "listener", "listeners" })]
    [InlineData("lbctl backend ", new[] { "drain", "enable", "disable" })]
    [InlineData("lbctl get pools -o ", new[] { "table", "json", "yaml", "name" })]
    [InlineData("lbctl completion ", new[] { "bash", "zsh", "fish", "powershell" })]
    [InlineData("lbctl ", new[] { "history", "rollback", "diff" })]
    [InlineData("lbctl history ", new[] { "show", "pools", "backends", "--kind", "--name", "--limit" })]
    [InlineData("lbctl rollback ", new[] { "--to", "--dry-run" })]
    [InlineData("lbctl diff ", new[] { "--revision", "--agent" })]
    public async Task Suggest_CompletesVerbsKindsAndFlagValues(string line, string[] expected)
    {
        using var cli = new CliHarness();
        cli.Variables["LBCTL_SERVER"] = "https://127.0.0.1:1";

        var suggestions = await SuggestAsync(cli, line);

        Assert.All(expected, word => Assert.Contains(word, suggestions));
    }

    [Fact]
    public async Task Suggest_AfterTheKind_OffersNoKindsAgain()
    {
        using var cli = new CliHarness();
        cli.Variables["LBCTL_SERVER"] = "https://127.0.0.1:1";

        var suggestions = await SuggestAsync(cli, "lbctl describe pool ");

        Assert.DoesNotContain("pools", suggestions);
        Assert.DoesNotContain("agents", suggestions);
    }

    [Fact]
    public async Task Suggest_NamesFromAServerThatIsNotThere_CompletesNothingWithinTheTimeout_AndWritesNoConfig()
    {
        using var cli = new CliHarness();
        // Nothing listens on port 1: the connection is refused, and completion says nothing.
        var started = Stopwatch.StartNew();

        const string line = "lbctl --server https://127.0.0.1:1 backend drain ";
        var (exitCode, output, error) = await cli.RunAsync($"[suggest:{line.Length}]", line);

        Assert.Equal(0, exitCode);
        Assert.True(started.Elapsed < ResourceNameCompletion.Timeout + TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
        Assert.DoesNotContain(output.Split('\n', StringSplitOptions.TrimEntries), line => line.Length > 0 && !line.StartsWith('-') && !line.StartsWith('/'));
        Assert.Equal("", error);
        // A TAB is no "first use": the config file is written only by a command that runs.
        Assert.False(File.Exists(Path.Join(cli.Home.Path, ".config", "lbctl", "config.yaml")));
    }

    private static async Task<List<string>> SuggestAsync(CliHarness cli, string line)
    {
        var (exitCode, output, error) = await cli.RunAsync($"[suggest:{line.Length}]", line);
        Assert.True(exitCode == 0, error);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }
}
