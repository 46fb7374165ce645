using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Completion;

/// <summary>
/// Shell completion against a real control plane: the lbctl binary completes resource names it
/// asks the server for, and bash, fish and zsh, given the scripts <c>lbctl completion SHELL</c> prints, offer them.
/// </summary>
public sealed class CompletionTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        var apply = await _cluster.ApplyAsync(Yaml.Join(
            Yaml.Pool("storefront"),
            Yaml.Pool("orders-api"),
            Yaml.Backend("web-1", "storefront", 9101),
            Yaml.Backend("web-2", "storefront", 9102),
            Yaml.Backend("api-1", "orders-api", 9201)));
        Assert.True(apply.ExitCode == 0, apply.ToString());
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("lbctl describe pool ", new[] { "orders-api", "storefront" })]
    [InlineData("lbctl get backends we", new[] { "web-1", "web-2" })]
    [InlineData("lbctl backend drain ", new[] { "api-1", "web-1", "web-2" })]
    [InlineData("lbctl get backends --pool ", new[] { "orders-api", "storefront" })]
    [InlineData("lbctl delete backend web-1 ", new[] { "api-1", "web-1", "web-2" })]
    public async Task Suggest_NamesComeFromTheServer(string line, string[] expected)
    {
        var result = await Commands.RunAsync(Binaries.Lbctl, [$"[suggest:{line.Length}]", line], environment: Environment(_cluster.AdminTokenFile));

        Assert.True(result.ExitCode == 0, result.ToString());
        var names = Words(result.Stdout).Where(w => !w.StartsWith('-') && !w.StartsWith('/')).ToArray();
        Assert.Equal(expected, names);
    }

    [Fact]
    public async Task Suggest_WithATokenTheServerRefuses_CompletesNoNames()
    {
        var bad = Path.Combine(_cluster.Root, "bad.token");
        await File.WriteAllTextAsync(bad, "lbt_t-000000000000_not-a-real-secret");
        const string line = "lbctl describe pool ";

        var result = await Commands.RunAsync(Binaries.Lbctl, [$"[suggest:{line.Length}]", line], environment: Environment(bad));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("storefront", Words(result.Stdout));
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task Bash_WithTheGeneratedScript_CompletesVerbsKindsAndServerNames()
    {
        var scriptFile = await ScriptFileAsync("bash");

        // What bash does on TAB: fill COMP_* for the line and call the registered function.
        async Task<string[]> TabAsync(params string[] words)
        {
            // The words are the script's arguments: no quoting of ours between them and bash.
            const string program = """
                source "$1"; shift
                COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                function=$(complete -p lbctl | sed -E 's/.* -F ([^ ]+) .*/\1/')
                "$function"
                printf '%s\n' "${COMPREPLY[@]}"
                """;
            var result = await Commands.RunAsync("bash", ["-c", program, "bash", scriptFile, .. words], environment: ShellEnvironment());
            Assert.True(result.ExitCode == 0, result.ToString());
            return Words(result.Stdout);
        }

        Assert.Contains("describe", await TabAsync("lbctl", "de"));
        Assert.Equal(["pool", "pools"], await TabAsync("lbctl", "get", "poo"));
        Assert.Equal(["web-1", "web-2"], await TabAsync("lbctl", "backend", "drain", "web"));
        Assert.Equal(["storefront"], await TabAsync("lbctl", "describe", "pool", "st"));
    }

    [Fact]
    public async Task Fish_WithTheGeneratedScript_CompletesKindsAndServerNames()
    {
        var scriptFile = await ScriptFileAsync("fish");

        // complete -C asks fish for the completions of a command line, as TAB does.
        async Task<string[]> TabAsync(string line)
        {
            var result = await Commands.RunAsync("fish", ["-c", "source $argv[1]; complete -C $argv[2]", scriptFile, line], environment: ShellEnvironment());
            Assert.True(result.ExitCode == 0, result.ToString());
            return Words(result.Stdout);
        }

        Assert.Equal(["pool", "pools"], await TabAsync("lbctl get poo"));
        Assert.Equal(["web-1", "web-2"], await TabAsync("lbctl backend drain web"));
    }

    [Fact]
    public async Task Zsh_WithTheGeneratedScript_PassesTheLineAndAddsServerNames()
    {
        var scriptFile = await ScriptFileAsync("zsh");

        // Outside a completion widget compadd and compdef do not exist: stand-ins print what the
        // script hands them, with words and CURRENT set as zsh sets them on TAB.
        const string program = """
            compdef() { print -r -- "compdef $*" }
            compadd() { shift; print -rl -- "$@" }
            source "$1"; shift
            words=("$@"); CURRENT=$#
            _lbctl
            """;
        var result = await Commands.RunAsync("zsh", ["-c", program, "zsh", scriptFile, "lbctl", "describe", "pool", ""], environment: ShellEnvironment());

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = Words(result.Stdout);
        Assert.Equal("compdef _lbctl lbctl", lines[0]);
        Assert.Contains("orders-api", lines);
        Assert.Contains("storefront", lines);
    }

    private async Task<string> ScriptFileAsync(string shell)
    {
        var script = await Commands.RunAsync(Binaries.Lbctl, ["completion", shell], environment: Environment(_cluster.AdminTokenFile));
        Assert.True(script.ExitCode == 0, script.ToString());
        var file = Path.Combine(_cluster.Root, "lbctl." + shell);
        await File.WriteAllTextAsync(file, script.Stdout);
        return file;
    }

    /// <summary>The cluster's settings, and lbctl on PATH as the scripts call it.</summary>
    private Dictionary<string, string> ShellEnvironment()
    {
        var environment = Environment(_cluster.AdminTokenFile);
        environment["PATH"] = Path.GetDirectoryName(Binaries.Lbctl) + ":" + System.Environment.GetEnvironmentVariable("PATH");
        return environment;
    }

    private Dictionary<string, string> Environment(string tokenFile) => new()
    {
        ["LBCTL_SERVER"] = _cluster.ControlPlaneUrl,
        ["LBCTL_CA_FILE"] = _cluster.CaFile,
        ["LBCTL_TOKEN_FILE"] = tokenFile,
        // A config file of the test's own, never the user's (completion must not write it).
        ["LBCTL_CONFIG"] = Path.Combine(_cluster.Root, "completion-lbctl.yaml"),
        ["DOTNET_gcServer"] = "0",
    };

    private static string[] Words(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
