using Grpc.Core;
using LoadBalancer.Cli.Connection;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// Everything the CLI takes from the process: streams, environment variables, home and
/// current directory, clock. Tests build one with their own values instead of touching the
/// real console or ~/.config.
/// </summary>
internal sealed class CliEnvironment
{
    public required TextWriter Out { get; init; }
    public required TextWriter Err { get; init; }
    public required TextReader In { get; init; }
    public required Func<string, string?> GetVariable { get; init; }
    public required string HomeDirectory { get; init; }
    public required string CurrentDirectory { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Replaces the gRPC channel (tests); null uses a real GrpcChannel.</summary>
    public Func<ConnectionSettings, CallInvoker>? CallInvokerFactory { get; init; }

    public static CliEnvironment FromProcess() => new()
    {
        Out = Console.Out,
        Err = Console.Error,
        In = Console.In,
        GetVariable = Environment.GetEnvironmentVariable,
        HomeDirectory = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
        CurrentDirectory = Environment.CurrentDirectory,
    };
}
