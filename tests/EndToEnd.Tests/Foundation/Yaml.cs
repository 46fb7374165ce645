using System.Globalization;
using System.Text;

namespace LoadBalancer.EndToEnd.Tests.Foundation;

/// <summary>Small builders for the YAML documents the tests apply with lbctl.</summary>
internal static class Yaml
{
    public static string Pool(string name, string algorithm = "round-robin", string protocol = "http", string extra = "") =>
        $$"""
        apiVersion: lb/v1
        kind: Pool
        metadata: {name: {{name}}}
        spec:
          protocol: {{protocol}}
          algorithm: {{algorithm}}
        {{extra}}
        ---

        """;

    public static string Backend(string name, string pool, int port, int weight = 1, string state = "enabled") =>
        $$"""
        apiVersion: lb/v1
        kind: Backend
        metadata: {name: {{name}}}
        spec: {pool: {{pool}}, address: 127.0.0.1:{{port.ToString(CultureInfo.InvariantCulture)}}, weight: {{weight.ToString(CultureInfo.InvariantCulture)}}, state: {{state}}}
        ---

        """;

    public static string HttpListener(string name, string tier, int port, string pool, string? host = null, string pathPrefix = "/")
    {
        var hosts = host is null ? string.Empty : $"hosts: [{host}], ";
        return $$"""
            apiVersion: lb/v1
            kind: Listener
            metadata: {name: {{name}}}
            spec:
              tier: {{tier}}
              port: {{port.ToString(CultureInfo.InvariantCulture)}}
              protocol: http
              routes:
                - {{{hosts}}pathPrefix: {{pathPrefix}}, pool: {{pool}}}
            ---

            """;
    }

    public static string Join(params string[] documents)
    {
        var text = new StringBuilder();
        foreach (var document in documents)
        {
            text.Append(document);
        }
        return text.ToString();
    }
}
