using LoadBalancer.Agent.Config;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancer.Agent.Listeners;

/// <summary>Sets up the Kestrel endpoint of a listener for its protocol (http, https, tcp).</summary>
internal interface IListenerEndpointConfigurator
{
    void Configure(ListenOptions listen, ListenerConfig config, ListenerState state);

    /// <summary>True when the change can be applied to the running server (routes, certificates).</summary>
    bool CanUpdateInPlace(ListenerConfig running, ListenerConfig next);

    void UpdateInPlace(ListenerState state, ListenerConfig next);
}

internal sealed class ListenerEndpointConfigurator : IListenerEndpointConfigurator
{
    public void Configure(ListenOptions listen, ListenerConfig config, ListenerState state)
    {
        switch (config.Protocol)
        {
            case "http":
                listen.Protocols = HttpProtocols.Http1;
                break;
            default:
                throw new InvalidOperationException($"protocol '{config.Protocol}' is not supported by this agent yet");
        }
    }

    public bool CanUpdateInPlace(ListenerConfig running, ListenerConfig next) =>
        running.Port == next.Port && running.Protocol == next.Protocol && running.Protocol == "http";

    public void UpdateInPlace(ListenerState state, ListenerConfig next)
    {
    }
}
