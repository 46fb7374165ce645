using System.Diagnostics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LoadBalancer.ControlPlane.Observability;

/// <summary>
/// Tracing of the control plane (--otel): a server span per API call (ASP.NET Core's, gRPC
/// included) and spans of its own for snapshot compilation and each tier's publish. Configured by
/// the standard OTEL_* variables; without --otel nothing is registered.
/// </summary>
public static class ControlPlaneTracing
{
    public const string SourceName = "LoadBalancer.ControlPlane";

    public static readonly ActivitySource Source = new(SourceName);

    public static IServiceCollection AddControlPlaneTracing(this IServiceCollection services, bool otel)
    {
        if (!otel)
        {
            return services;
        }
        services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
                {
                    resource.AddService("lb-controlplane", serviceVersion: typeof(ControlPlaneTracing).Assembly.GetName().Version?.ToString(3));
                }
            })
            .WithTracing(tracing => tracing
                .AddSource(SourceName)
                // The agents' long-lived sync streams would each be one span as long as the connection.
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/lb.v1.AgentSync", StringComparison.Ordinal))
                .AddOtlpExporter());
        return services;
    }
}
