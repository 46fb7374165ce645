using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Connection;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// What a verb runs with: the environment and, created on first use, the connection. Verbs
/// that never call the server (config view) therefore never resolve or write anything.
/// </summary>
internal sealed class CliContext(CliEnvironment environment, ConnectionFlags flags, bool writeConfigOnFirstUse = true) : IDisposable
{
    private ConnectionSettings? _settings;
    private GrpcChannel? _channel;
    private ServerCertificateCheck? _certificateCheck;
    private CallInvoker? _invoker;
    private Management.ManagementClient? _client;
    private Api.V1.Access.AccessClient? _access;
    private Api.V1.Events.EventsClient? _events;
    private Api.V1.History.HistoryClient? _history;

    public CliEnvironment Environment => environment;
    public ConnectionFlags Flags => flags;
    public TextWriter Out => environment.Out;
    public TextWriter Err => environment.Err;
    public DateTimeOffset Now => environment.Time.GetUtcNow();

    /// <summary>The settings if a verb has resolved them (error messages name the server).</summary>
    public ConnectionSettings? ResolvedSettings => _settings;

    /// <summary>Why the server's TLS certificate was refused, if it was (error messages say what to do).</summary>
    public CertificateRejection? CertificateRejection => _certificateCheck?.Rejection;

    public ConnectionSettings Settings => _settings ??= ConnectionResolver.Resolve(flags, environment, writeConfigOnFirstUse);

    public Management.ManagementClient Client => _client ??= new Management.ManagementClient(Invoker);

    /// <summary>Tokens, the audit log and WhoAmI, over the same channel as <see cref="Client"/>.</summary>
    public Api.V1.Access.AccessClient Access => _access ??= new Api.V1.Access.AccessClient(Invoker);

    /// <summary>Events (list and watch), over the same channel as <see cref="Client"/>.</summary>
    public Api.V1.Events.EventsClient Events => _events ??= new Api.V1.Events.EventsClient(Invoker);

    /// <summary>Configuration history and rollback, over the same channel as <see cref="Client"/>.</summary>
    public Api.V1.History.HistoryClient History => _history ??= new Api.V1.History.HistoryClient(Invoker);

    private CallInvoker Invoker
    {
        get
        {
            if (_invoker is null)
            {
                // Tests swap the transport only; token and deadline are added the same way.
                var transport = environment.CallInvokerFactory?.Invoke(Settings) ?? CreateTransport();
                _invoker = ChannelFactory.WithCallDefaults(transport, Settings, environment.Err);
            }
            return _invoker;
        }
    }

    private CallInvoker CreateTransport()
    {
        _certificateCheck = ServerCertificateCheck.For(Settings);
        _channel = ChannelFactory.CreateChannel(Settings, _certificateCheck);
        return _channel.CreateCallInvoker();
    }

    public void Dispose() => _channel?.Dispose();
}
