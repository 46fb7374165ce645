using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Tls;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LoadBalancer.Agent.Listeners;

/// <summary>Sets up the Kestrel endpoint of an http or https listener (tcp listeners are not served by Kestrel).</summary>
internal sealed class ListenerEndpointConfigurator(FastPath.FastHttpHandler fastPath, AgentOptions options, Metrics.AgentMetrics metrics)
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public void Configure(ListenOptions listen, ListenerState state)
    {
        // First, before TLS: the PROXY protocol header precedes the handshake, and a refused
        // client costs no handshake.
        listen.Use(next => connection => ClientAdmission.HandleAsync(connection, next, state, metrics));
        switch (state.Config.Protocol)
        {
            case "http":
                listen.Protocols = HttpProtocols.Http1;
                UseFastPath(listen, state, https: false);
                break;
            case "https":
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(next => async connection =>
                {
                    await ClientHelloVersions.PeekAsync(connection).ConfigureAwait(false);
                    await next(connection).ConfigureAwait(false);
                });
                // The map is read at each handshake, so a rotation needs no restart and open
                // connections keep the certificate they negotiated.
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    HandshakeTimeout = HandshakeTimeout,
                    OnConnection = context =>
                    {
                        metrics.TlsHandshakes.WithLabels(state.Config.Name).Inc();
                        return ValueTask.FromResult(
                            (state.Tls ?? throw new InvalidOperationException("https listener without certificates")).SelectOptions(context.ClientHelloInfo.ServerName, ClientHelloVersions.OffersTls13(context.Connection)));
                    },
                });
                UseFastPath(listen, state, https: true);
                break;
            default:
                throw new InvalidOperationException($"unknown listener protocol '{state.Config.Protocol}'");
        }
    }

    /// <summary>Connection middleware after TLS, before Kestrel's HTTP handling, which it falls back to.</summary>
    private void UseFastPath(ListenOptions listen, ListenerState state, bool https)
    {
        if (options.HttpFastPath)
        {
            listen.Use(next => connection => fastPath.HandleAsync(connection, next, state, https));
        }
    }

    /// <summary>True when the change can be applied to the running server (routes, certificates, pool).</summary>
    public static bool CanUpdateInPlace(ListenerConfig running, ListenerConfig next) =>
        running.Port == next.Port && running.Protocol == next.Protocol;
}
