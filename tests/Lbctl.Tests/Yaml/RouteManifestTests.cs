using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Yaml;

/// <summary>A listener's Gateway API route fields read from YAML as written in README's Routing section.</summary>
public sealed class RouteManifestTests
{
    private static Listener Read(string yaml) =>
        (Listener)ManifestReader.Read([new ManifestSource("routes.yaml", TestData.Directory, () => new StringReader(yaml))]).Single().Message;

    [Fact]
    public void Parse_MatchesBackendsAndFilters()
    {
        var listener = Read("""
            apiVersion: lb/v1
            kind: Listener
            metadata: {name: public}
            spec:
              tier: edge
              port: 8080
              protocol: http
              routes:
                - matches:
                    - path: {type: RegularExpression, value: "/items/[0-9]+"}
                      method: POST
                      headers: [{name: x-env, value: canary}]
                      queryParams: [{name: v, type: RegularExpression, value: "[0-9]+"}]
                  backends: [{pool: shop-v1, weight: 100}, {pool: shop-v2, weight: 0}]
                  filters:
                    - type: URLRewrite
                      urlRewrite: {hostname: internal.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
                    - type: ResponseHeaderModifier
                      responseHeaderModifier: {set: [{name: cache-control, value: no-store}], remove: [server]}
                - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 308}}]
            """);

        var route = listener.Spec.Routes[0];
        Assert.Equal(new PathMatch { Type = "RegularExpression", Value = "/items/[0-9]+" }, route.Matches[0].Path);
        Assert.Equal("POST", route.Matches[0].Method);
        Assert.Equal("canary", route.Matches[0].Headers[0].Value);
        Assert.Equal("v", route.Matches[0].QueryParams[0].Name);
        Assert.Equal([("shop-v1", 100), ("shop-v2", 0)], route.Backends.Select(b => (b.Pool, b.Weight)));
        Assert.True(route.Backends[1].HasWeight);
        Assert.Equal("/v2", route.Filters[0].UrlRewrite.Path.ReplacePrefixMatch);
        Assert.Equal(["server"], route.Filters[1].ResponseHeaderModifier.Remove);
        var redirect = listener.Spec.Routes[1].Filters[0].RequestRedirect;
        Assert.Equal(("https", 308), (redirect.Scheme, redirect.StatusCode));
    }
}
