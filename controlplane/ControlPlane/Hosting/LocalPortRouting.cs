using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoadBalancer.ControlPlane.Hosting;

/// <summary>Endpoint metadata: the endpoint answers only on connections accepted on this local port.</summary>
public sealed record LocalPortMetadata(int Port);

/// <summary>
/// Binds endpoints to one of the control plane's ports: the API (gRPC, REST, dashboard) to
/// --listen, the probes and metrics to --admin. The check is on the port the connection was
/// accepted on, not on the Host header (what <c>RequireHost</c> matches): a client chooses its
/// Host header, so "Host: x:7400" sent to the plain-HTTP admin port would otherwise reach the
/// API there, and a port-forward or proxy that changes the port (kubectl port-forward 8443:7400)
/// would lose the API. An endpoint on the wrong port is no match: 404.
/// </summary>
public static class LocalPortRouting
{
    public static IServiceCollection AddLocalPortRouting(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, LocalPortMatcherPolicy>());
        return services;
    }

    public static TBuilder RequireLocalPort<TBuilder>(this TBuilder builder, int port)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(port);
        builder.Add(endpoint => endpoint.Metadata.Add(new LocalPortMetadata(port)));
        return builder;
    }

    private sealed class LocalPortMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
    {
        // It only removes candidates, so its place among the policies does not matter.
        public override int Order => 0;

        public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
            endpoints.Any(e => e.Metadata.GetMetadata<LocalPortMetadata>() is not null);

        public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
        {
            var port = httpContext.Connection.LocalPort;
            for (var i = 0; i < candidates.Count; i++)
            {
                if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<LocalPortMetadata>() is { } required && required.Port != port)
                {
                    candidates.SetValidity(i, false);
                }
            }
            return Task.CompletedTask;
        }
    }
}
