using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>Runs lbctl in-process with its own home, environment, stdin and (optionally) a fake server.</summary>
internal sealed class CliHarness : IDisposable
{
    public TempDirectory Home { get; } = new();
    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);
    public FakeManagement? Server { get; init; }
    public string Stdin { get; set; } = "";
    public DateTimeOffset Now { get; set; } = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public Task<(int ExitCode, string Out, string Err)> RunAsync(params string[] args) => RunAsync(CancellationToken.None, args);

    /// <summary>Runs with a token that stands for Ctrl-C (events --watch runs until it).</summary>
    public async Task<(int ExitCode, string Out, string Err)> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var environment = new CliEnvironment
        {
            Out = output,
            Err = error,
            In = new StringReader(Stdin),
            GetVariable = name => Variables.GetValueOrDefault(name),
            HomeDirectory = Home.Path,
            CurrentDirectory = Home.Path,
            Time = new FixedTime(Now),
            CallInvokerFactory = Server is null ? null : _ => Server,
        };
        var exitCode = await LbctlApp.RunAsync(args, environment, cancellationToken);
        return (exitCode, output.ToString(), error.ToString());
    }

    public void Dispose() => Home.Dispose();

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
