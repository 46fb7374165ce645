using System.Globalization;
using System.Net;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Routing;

/// <summary>
/// Gateway API routes through a real agent and raw backends, on both request paths: the fast path
/// (which matches and splits itself and hands routes with filters to YARP) and YARP's alone.
/// </summary>
public sealed class RouteTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    private static readonly string[] Pools = ["fallback", "posts", "canary", "v2", "items", "rewritten", "stable", "preview"];

    [Theory]
    [InlineData("on")]
    [InlineData("off")]
    public async Task Routes_MatchSplitRedirectRewriteAndModifyHeaders_AlikeOnBothPaths(string fastPath)
    {
        await using var cluster = await TestCluster.StartAsync();
        var backends = Pools.ToDictionary(p => p, p => RawHttpBackend.Start(p + "-1"));
        try
        {
            await cluster.StartAgentAsync("edge", "edge-1", "127.0.0.1", "--http-fast-path", fastPath);
            var port = Ports.Free();
            var redirectPort = Ports.Free();
            var yaml = Yaml.Join([
                .. Pools.Select(p => Yaml.Pool(p) + Yaml.Backend(p + "-1", p, backends[p].Port)),
                Listener(port, redirectPort)]);
            var applied = await cluster.ApplyAsync(yaml);
            Assert.True(applied.ExitCode == 0, applied.ToString());
            var url = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url + "/") == "fallback-1", Propagation, "the listener", cluster.Diagnostics);

            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false });

            // Matching: method, header, query parameter, regular expression, else the catch-all.
            Assert.Equal("posts-1", await WhoAsync(client, HttpMethod.Post, url + "/x"));
            Assert.Equal("canary-1", await WhoAsync(client, HttpMethod.Get, url + "/x", ("X-Env", "canary")));
            Assert.Equal("fallback-1", await WhoAsync(client, HttpMethod.Get, url + "/x", ("X-Env", "prod")));
            Assert.Equal("v2-1", await WhoAsync(client, HttpMethod.Get, url + "/x?a=b&version=2"));
            Assert.Equal("items-1", await WhoAsync(client, HttpMethod.Get, url + "/items/42"));
            Assert.Equal("fallback-1", await WhoAsync(client, HttpMethod.Get, url + "/items/4x2"));

            // Rewrite and header modifiers, as the raw backend saw the request and the client the answer.
            using (var request = new HttpRequestMessage(HttpMethod.Get, url + "/api/users?q=1"))
            {
                request.Headers.Host = "rewrite.example.com";
                request.Headers.Add("X-Drop", "gone");
                request.Headers.Add("X-Set", "client");
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("yes", response.Headers.GetValues("X-Resp").Single());
                Assert.False(response.Headers.Contains("X-Backend-Secret"));
            }
            var head = backends["rewritten"].Heads.Last();
            output.WriteLine(head);
            var lines = head.Split("\r\n");
            Assert.Equal("GET /v2/users?q=1 HTTP/1.1", lines[0]);
            Assert.Contains("Host: internal.example.com", lines);
            Assert.Contains(lines, l => l.Equals("X-Set: one", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(lines, l => l.Equals("X-Add: two", StringComparison.OrdinalIgnoreCase));
            Assert.DoesNotContain(lines, l => l.StartsWith("X-Drop", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(lines, l => l.Equals("X-Forwarded-Host: rewrite.example.com", StringComparison.OrdinalIgnoreCase));

            // The classic HTTP -> HTTPS listener, and a permanent move with a new prefix.
            var redirectUrl = $"http://127.0.0.1:{redirectPort.ToString(CultureInfo.InvariantCulture)}";
            using (var request = new HttpRequestMessage(HttpMethod.Get, redirectUrl + "/a/b?c=d"))
            {
                request.Headers.Host = "shop.example.com";
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
                Assert.Equal("https://shop.example.com/a/b?c=d", response.Headers.Location?.OriginalString);
            }
            using (var request = new HttpRequestMessage(HttpMethod.Post, redirectUrl + "/old/page"))
            {
                request.Headers.Host = "moved.example.com";
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
                Assert.Equal($"http://new.example.com:{redirectPort.ToString(CultureInfo.InvariantCulture)}/new/page", response.Headers.Location?.OriginalString);
            }

            // A 90/10 split over 10,000 requests, in eight parallel keep-alive streams.
            const int Total = 10_000;
            var before = (backends["stable"].Requests, backends["preview"].Requests);
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                using var split = new HttpClient(new SocketsHttpHandler { UseProxy = false });
                for (var i = 0; i < Total / 8; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, url + "/x");
                    request.Headers.Host = "split.example.com";
                    using var response = await split.SendAsync(request);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }));
            var stable = backends["stable"].Requests - before.Item1;
            var preview = backends["preview"].Requests - before.Item2;
            output.WriteLine($"fast path {fastPath}: stable {stable}, preview {preview}");
            Assert.Equal(Total, stable + preview);
            Assert.InRange(preview * 100.0 / Total, 8.0, 12.0);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var backend in backends.Values)
            {
                await backend.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("on")]
    [InlineData("off")]
    public async Task RouteTimeoutAndRetries_OverrideThePools(string fastPath)
    {
        await using var cluster = await TestCluster.StartAsync();
        await using var slow = RawHttpBackend.Start("slow-1");
        try
        {
            await cluster.StartAgentAsync("edge", "edge-1", "127.0.0.1", "--http-fast-path", fastPath);
            var port = Ports.Free();
            var applied = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("slow", extra: "  requestTimeout: 60s\n  retries: 3"),
                Yaml.Backend("slow-1", "slow", slow.Port),
                $$$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: timed}
                spec:
                  tier: edge
                  port: {{{port.ToString(CultureInfo.InvariantCulture)}}}
                  protocol: http
                  routes:
                    - pool: slow
                      timeouts: {backendRequest: 1s}
                      retries: 0
                """));
            Assert.True(applied.ExitCode == 0, applied.ToString());
            var url = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url + "/") == "slow-1", Propagation, "the listener", cluster.Diagnostics);

            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
            var before = slow.Requests;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            using var response = await client.GetAsync(url + "/hold/me");
            output.WriteLine($"fast path {fastPath}: {(int)response.StatusCode} after {watch.ElapsedMilliseconds} ms");

            // The route's 1 s, not the pool's 60 s; one attempt, not the pool's four.
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
            Assert.Equal(1, slow.Requests - before);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static async Task<string?> WhoAsync(HttpClient client, HttpMethod method, string url, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }
        using var response = await client.SendAsync(request);
        return response.Headers.TryGetValues("X-Backend", out var values) ? values.First() : $"status {(int)response.StatusCode}";
    }

    private static string Listener(int port, int redirectPort) =>
        $$$"""
        apiVersion: lb/v1
        kind: Listener
        metadata: {name: routed}
        spec:
          tier: edge
          port: {{{port.ToString(CultureInfo.InvariantCulture)}}}
          protocol: http
          routes:
            - pool: fallback
            - matches: [{method: POST}]
              pool: posts
            - matches: [{headers: [{name: x-env, value: canary}]}]
              pool: canary
            - matches: [{queryParams: [{name: version, value: "2"}]}]
              pool: v2
            - matches: [{path: {type: RegularExpression, value: "/items/[0-9]+"}}]
              pool: items
            - hosts: [rewrite.example.com]
              matches: [{path: {type: PathPrefix, value: /api}}]
              pool: rewritten
              filters:
                - type: URLRewrite
                  urlRewrite: {hostname: internal.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
                - type: RequestHeaderModifier
                  requestHeaderModifier: {set: [{name: X-Set, value: one}], add: [{name: X-Add, value: two}], remove: [X-Drop]}
                - type: ResponseHeaderModifier
                  responseHeaderModifier: {set: [{name: X-Resp, value: "yes"}], remove: [X-Backend-Secret]}
            - hosts: [split.example.com]
              backends: [{pool: stable, weight: 90}, {pool: preview, weight: 10}]
        ---
        apiVersion: lb/v1
        kind: Listener
        metadata: {name: to-https}
        spec:
          tier: edge
          port: {{{redirectPort.ToString(CultureInfo.InvariantCulture)}}}
          protocol: http
          routes:
            - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
            - hosts: [moved.example.com]
              matches: [{path: {value: /old}}]
              filters: [{type: RequestRedirect, requestRedirect: {hostname: new.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 308}}]
        ---

        """;
}
