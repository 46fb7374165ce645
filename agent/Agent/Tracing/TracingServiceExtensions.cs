using LoadBalancer.Agent.Config;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LoadBalancer.Agent.Tracing;

internal static class TracingServiceExtensions
{
    /// <summary>
    /// With --otel: a tracer for the agent's source, exported by OTLP. The standard OTEL_*
    /// variables configure it (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
    /// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER...). Without --otel nothing is registered, so no
    /// listener exists and no request creates an Activity.
    /// </summary>
    public static IServiceCollection AddAgentTracing(this IServiceCollection services, AgentOptions options)
    {
        if (!options.Otel)
        {
            return services;
        }
        services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
                {
                    resource.AddService("lb-agent", serviceVersion: AgentOptions.SoftwareVersion, serviceInstanceId: options.Name);
                }
                resource.AddAttributes([new("lb.tier", options.Tier)]);
            })
            .WithTracing(tracing => tracing.AddSource(AgentTracing.SourceName).AddOtlpExporter());
        return services;
    }
}
