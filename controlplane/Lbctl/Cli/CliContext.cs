using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Connection;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// What a verb runs with: the environment and, created on first use, the connection. Verbs
/// that never call the server (config view) therefore never resolve or write anything.
/// </summary>
internal sealed class CliContext(CliEnvironment environment, ConnectionFlags flags) : IDisposable
{
    private ConnectionSettings? _settings;
    private GrpcChannel? _channel;
    private Management.ManagementClient? _client;

    public CliEnvironment Environment => environment;
    public ConnectionFlags Flags => flags;
    public TextWriter Out => environment.Out;
    public TextWriter Err => environment.Err;
    public DateTimeOffset Now => environment.Time.GetUtcNow();

    /// <summary>The settings if a verb has resolved them (error messages name the server).</summary>
    public ConnectionSettings? ResolvedSettings => _settings;

    public ConnectionSettings Settings => _settings ??= ConnectionResolver.Resolve(flags, environment);

    public Management.ManagementClient Client
    {
        get
        {
            if (_client is null)
            {
                // Tests swap the transport only; token and deadline are added the same way.
                var transport = environment.CallInvokerFactory?.Invoke(Settings)
                    ?? (_channel = ChannelFactory.CreateChannel(Settings)).CreateCallInvoker();
                _client = new Management.ManagementClient(ChannelFactory.WithCallDefaults(transport, Settings));
            }
            return _client;
        }
    }

    public void Dispose() => _channel?.Dispose();
}
