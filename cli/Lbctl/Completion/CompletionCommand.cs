using System.CommandLine;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Completion;

/// <summary>
/// <c>lbctl completion bash|zsh|fish|powershell</c>: prints a script that hands the line being
/// typed to lbctl's own completer, System.CommandLine's <c>[suggest:POSITION]</c> directive. The
/// command tree (verbs, flags, kinds, flag values) and the names from the server are then
/// completed by the same code that parses the command, so the scripts never need updating.
/// </summary>
internal static class CompletionCommand
{
    public static IReadOnlyList<string> Shells { get; } = ["bash", "zsh", "fish", "powershell"];

    public static Command Create(CommandRunner runner)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh, fish or powershell" };
        shell.AcceptOnlyFromAmong([.. Shells]);
        var command = new Command("completion", "Print the shell completion script for bash, zsh, fish or powershell (see lbctl completion --help)")
        {
            shell,
        };
        command.Description += "\n  bash:       source <(lbctl completion bash)"
            + "\n  zsh:        source <(lbctl completion zsh)"
            + "\n  fish:       lbctl completion fish | source"
            + "\n  powershell: lbctl completion powershell | Out-String | Invoke-Expression";
        runner.SetAction(command, (parseResult, context, _) =>
        {
            context.Out.Write(Script(parseResult.GetValue(shell)!));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    public static string Script(string shell) => shell switch
    {
        "bash" => Bash,
        "zsh" => Zsh,
        "fish" => Fish,
        "powershell" => PowerShell,
        _ => throw new ArgumentOutOfRangeException(nameof(shell), shell, "unknown shell"),
    };

    // Each script passes the line up to the cursor and the cursor's position; stderr is dropped,
    // so a completion never prints into the prompt.
    private const string Bash = """
        # lbctl completion for bash. Load it with: source <(lbctl completion bash)
        # or install it: lbctl completion bash > /etc/bash_completion.d/lbctl
        _lbctl_completions()
        {
            local line="${COMP_LINE:0:COMP_POINT}"
            local IFS=$'\n'
            COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "[suggest:${#line}]" "$line" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -F _lbctl_completions lbctl

        """;

    private const string Zsh = """
        #compdef lbctl
        # lbctl completion for zsh. Load it with: source <(lbctl completion zsh)
        # or save it as _lbctl in a folder of $fpath.
        _lbctl() {
          local line="${(j: :)${(@)words[1,CURRENT]}}"
          local -a candidates
          candidates=("${(@f)$("${words[1]}" "[suggest:${#line}]" "$line" 2>/dev/null)}")
          candidates=(${candidates:#})
          compadd -- "${candidates[@]}"
        }
        if [ "$funcstack[1]" = "_lbctl" ]; then
          _lbctl "$@"
        else
          compdef _lbctl lbctl
        fi

        """;

    private const string Fish = """
        # lbctl completion for fish. Load it with: lbctl completion fish | source
        # or save it as ~/.config/fish/completions/lbctl.fish
        function __lbctl_complete
            set -l line (commandline -cp)
            set -l program (commandline -opc)[1]
            $program "[suggest:"(string length -- "$line")"]" "$line" 2>/dev/null
        end
        complete -c lbctl -f -a '(__lbctl_complete)'

        """;

    private const string PowerShell = """
        # lbctl completion for PowerShell. Load it with: lbctl completion powershell | Out-String | Invoke-Expression
        # or add that line to $PROFILE.
        Register-ArgumentCompleter -Native -CommandName lbctl -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $position = $cursorPosition - $commandAst.Extent.StartOffset
            if ($line.Length -lt $position) { $line = $line.PadRight($position) }
            $program = $commandAst.CommandElements[0].ToString()
            & $program "[suggest:$position]" $line 2>$null | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;
}
