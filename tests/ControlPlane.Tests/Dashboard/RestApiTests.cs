using System.Net;
using System.Text.Json.Nodes;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Dashboard;

/// <summary>The REST face of the API (gRPC JSON transcoding): same tokens, roles and errors as gRPC, on the API port only.</summary>
public sealed class RestApiTests : IAsyncLifetime
{
    private ApiServer _server = null!;
    private RestClient _rest = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        _rest = new RestClient(_server);
    }

    public async Task DisposeAsync()
    {
        _rest.Dispose();
        await _server.DisposeAsync();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("lbt_t-000000000000_not-a-real-secret")]
    public async Task Rest_WithoutValidToken_Is401(string? token)
    {
        foreach (var path in new[] { "/v1/pools", "/v1/status", "/v1/whoami" })
        {
            using var response = await _rest.SendAsync(HttpMethod.Get, path, token);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal((int)Grpc.Core.StatusCode.Unauthenticated, (int)error["code"]!);
        }
    }

    [Fact]
    public async Task Rest_Viewer_Reads_ButAWriteIs403AndChangesNothing()
    {
        await CreatePoolAndBackendAsync();
        var viewer = await _server.CreateTokenAsync("viewer");

        var me = await _rest.JsonAsync(HttpMethod.Get, "/v1/whoami", viewer);
        Assert.Equal("viewer", (string?)me["role"]);
        var backends = await _rest.JsonAsync(HttpMethod.Get, "/v1/backends", viewer);
        var backend = backends["items"]!.AsArray().Single()!;
        Assert.Equal("web-1", (string?)backend["metadata"]!["name"]);

        var before = await _server.FingerprintAsync();
        backend["spec"]!["state"] = "draining";
        backend.AsObject().Remove("status");
        using var put = await _rest.SendAsync(HttpMethod.Put, "/v1/backends/web-1", viewer, new JsonObject { ["backend"] = backend.DeepClone() });
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        using var delete = await _rest.SendAsync(HttpMethod.Delete, "/v1/backends/web-1", viewer);
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
        using var tokens = await _rest.SendAsync(HttpMethod.Get, "/v1/tokens", viewer);
        Assert.Equal(HttpStatusCode.Forbidden, tokens.StatusCode);
        Assert.Equal(before, await _server.FingerprintAsync());
        Assert.Contains((await _server.Management(_server.AdminToken).GetBackendAsync(new GetRequest { Name = "web-1" })).Spec.State, new[] { "", "enabled" });
    }

    [Fact]
    public async Task Rest_Admin_ReadModifyWrite_WithResourceVersion_StaleIs409()
    {
        await CreatePoolAndBackendAsync();
        var admin = _server.AdminToken;

        var read = await _rest.JsonAsync(HttpMethod.Get, "/v1/backends/web-1", admin);
        // int64 is written as a JSON number (GrpcJsonSettings.WriteInt64sAsStrings is off).
        Assert.True((long)read["metadata"]!["resourceVersion"]! > 0);
        read.AsObject().Remove("status");
        read["spec"]!["state"] = "draining";
        var written = await _rest.JsonAsync(HttpMethod.Put, "/v1/backends/web-1", admin, new JsonObject { ["backend"] = read.DeepClone() });
        Assert.Equal("draining", (string?)written["spec"]!["state"]);
        Assert.Equal("draining", (await _server.Management(admin).GetBackendAsync(new GetRequest { Name = "web-1" })).Spec.State);

        // The same body again carries the old resourceVersion: ABORTED, 409, nothing written.
        read["spec"]!["state"] = "disabled";
        using var stale = await _rest.SendAsync(HttpMethod.Put, "/v1/backends/web-1", admin, new JsonObject { ["backend"] = read.DeepClone() });
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        Assert.Equal("draining", (await _server.Management(admin).GetBackendAsync(new GetRequest { Name = "web-1" })).Spec.State);

        using var missing = await _rest.SendAsync(HttpMethod.Get, "/v1/backends/nope", admin);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var invalid = await _rest.SendAsync(HttpMethod.Post, "/v1/backends", admin, JsonNode.Parse("""{"backend": {"metadata": {"name": "Bad_Name"}, "spec": {"pool": "web", "address": "127.0.0.1:1"}}}"""));
        var violation = await invalid.Content.ReadAsStringAsync();
        Assert.True(invalid.StatusCode == HttpStatusCode.BadRequest, violation);
        // The field violations come along, as in gRPC's status details.
        Assert.Contains("type.googleapis.com/google.rpc.BadRequest", violation, StringComparison.Ordinal);
        Assert.Contains("metadata.name", violation, StringComparison.Ordinal);

        var status = await _rest.JsonAsync(HttpMethod.Get, "/v1/status", admin);
        Assert.Equal(1, (int)status["pools"]!);
        var audit = await _rest.JsonAsync(HttpMethod.Get, "/v1/audit?kind=Backend&name=web-1", admin);
        Assert.Contains(audit["items"]!.AsArray(), e => (string?)e!["action"] == "update");
        var listed = await _rest.JsonAsync(HttpMethod.Get, "/v1/pools", admin);
        Assert.Equal("web", (string?)listed["items"]![0]!["metadata"]!["name"]);
        Assert.Equal("web", (string?)(await _rest.JsonAsync(HttpMethod.Get, "/v1/pools/web", admin))["metadata"]!["name"]);
        foreach (var path in new[] { "/v1/listeners", "/v1/certificates", "/v1/agents" })
        {
            await _rest.JsonAsync(HttpMethod.Get, path, admin);
        }

        // Delete with a query parameter: a stale version is refused, the current one deletes.
        var current = (long)(await _rest.JsonAsync(HttpMethod.Get, "/v1/backends/web-1", admin))["metadata"]!["resourceVersion"]!;
        using var staleDelete = await _rest.SendAsync(HttpMethod.Delete, $"/v1/backends/web-1?resourceVersion={current - 1}", admin);
        Assert.Equal(HttpStatusCode.Conflict, staleDelete.StatusCode);
        await _rest.JsonAsync(HttpMethod.Delete, $"/v1/backends/web-1?resourceVersion={current}", admin);
        using var gone = await _rest.SendAsync(HttpMethod.Get, "/v1/backends/web-1", admin);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Rest_Events_ViewerListsThem_FiltersAreQueryParameters_NoTokenIs401()
    {
        // An agent connecting records AgentConnected; the gRPC watch says when it is stored.
        var agentToken = await _server.CreateTokenAsync("agent", "edge");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var sync = _server.Sync(agentToken).Sync(cancellationToken: cts.Token);
        await sync.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "edge-1", Tier = "edge" } }, cts.Token);
        using (var watch = _server.Events(_server.AdminToken).WatchEvents(new WatchEventsRequest { Kind = "Agent", Name = "edge-1" }, cancellationToken: cts.Token))
        {
            while (await watch.ResponseStream.MoveNext(cts.Token) && watch.ResponseStream.Current.Reason != "AgentConnected")
            {
            }
        }
        var viewer = await _server.CreateTokenAsync("viewer");

        using var response = await _rest.SendAsync(HttpMethod.Get, "/v1/events?limit=50", viewer);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var items = JsonNode.Parse(text)!["items"]!.AsArray();
        var connected = Assert.Single(items, e => (string?)e!["reason"] == "AgentConnected")!;
        Assert.Equal("Normal", (string?)connected["type"]);
        Assert.Equal("Agent", (string?)connected["kind"]);
        Assert.Equal("edge-1", (string?)connected["name"]);
        Assert.Equal("edge-1", (string?)connected["agent"]);
        Assert.Equal(1, (int)connected["count"]!);
        var id = (long)connected["id"]!;
        Assert.True(id > 0);
        Assert.NotNull((string?)connected["lastAt"]);

        // Query parameters are the request's fields: a filter that matches, one that does not,
        // paging past the event (JSON and proto field names), a limit out of range.
        var agentEvents = await _rest.JsonAsync(HttpMethod.Get, "/v1/events?kind=agent&name=edge-1&type=Normal", viewer);
        Assert.Contains(agentEvents["items"]!.AsArray(), e => (long)e!["id"]! == id);
        var warnings = await _rest.JsonAsync(HttpMethod.Get, "/v1/events?type=Warning", viewer);
        Assert.Empty(warnings["items"]?.AsArray() ?? []);
        foreach (var after in new[] { "afterId", "after_id" })
        {
            var later = await _rest.JsonAsync(HttpMethod.Get, $"/v1/events?kind=Agent&name=edge-1&{after}={id}", viewer);
            Assert.DoesNotContain(later["items"]?.AsArray() ?? [], e => (long)e!["id"]! == id);
        }
        using var badLimit = await _rest.SendAsync(HttpMethod.Get, "/v1/events?limit=5000", viewer);
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);

        using var anonymous = await _rest.SendAsync(HttpMethod.Get, "/v1/events", null);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var error = JsonNode.Parse(await anonymous.Content.ReadAsStringAsync())!;
        Assert.Equal((int)Grpc.Core.StatusCode.Unauthenticated, (int)error["code"]!);
        // An agent's token is for the sync stream, not for reading events.
        using var asAgent = await _rest.SendAsync(HttpMethod.Get, "/v1/events", agentToken);
        Assert.Equal(HttpStatusCode.Forbidden, asAgent.StatusCode);
    }

    [Fact]
    public async Task AdminPort_ServesOnlyProbesAndMetrics_NoRestNoDashboard()
    {
        var admin = _server.AdminToken;
        var apiPort = new Uri(_rest.ApiUrl).Port;
        foreach (var (path, host) in new[] { ("/v1/pools", (string?)null), ("/v1/whoami", null), ("/v1/events", null), ("/v1/pools", $"127.0.0.1:{apiPort}"), ("/ui", null), ("/ui/dashboard.js", null) })
        {
            // Also with the API port in the Host header: the check is on the connection's port.
            using var response = await _rest.SendAsync(HttpMethod.Get, path, admin, baseUrl: _rest.AdminUrl, configure: r => r.Headers.Host = host);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"GET {path} (Host {host ?? "default"}) on the admin port: {(int)response.StatusCode}");
        }
        using var put = await _rest.SendAsync(HttpMethod.Put, "/v1/backends/x", admin, new JsonObject { ["backend"] = new JsonObject() }, baseUrl: _rest.AdminUrl);
        Assert.Equal(HttpStatusCode.NotFound, put.StatusCode);
        using var healthz = await _rest.SendAsync(HttpMethod.Get, "/healthz", null, baseUrl: _rest.AdminUrl);
        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        using var metrics = await _rest.SendAsync(HttpMethod.Get, "/metrics", null, baseUrl: _rest.AdminUrl);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);

        // And the other way round: no probes or metrics on the API port, whatever the Host header says.
        var adminPort = new Uri(_rest.AdminUrl).Port;
        foreach (var (path, host) in new[] { ("/metrics", (string?)null), ("/healthz", null), ("/metrics", $"127.0.0.1:{adminPort}") })
        {
            using var response = await _rest.SendAsync(HttpMethod.Get, path, null, configure: r => r.Headers.Host = host);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"GET {path} (Host {host ?? "default"}) on the API port: {(int)response.StatusCode}");
        }
    }

    private async Task CreatePoolAndBackendAsync()
    {
        var admin = _server.AdminToken;
        await _rest.JsonAsync(HttpMethod.Post, "/v1/pools", admin, JsonNode.Parse("""{"pool": {"metadata": {"name": "web"}, "spec": {"protocol": "http", "algorithm": "round-robin"}}}"""));
        var created = await _rest.JsonAsync(HttpMethod.Post, "/v1/backends", admin, JsonNode.Parse("""{"backend": {"metadata": {"name": "web-1"}, "spec": {"pool": "web", "address": "127.0.0.1:9101", "weight": 3}}}"""));
        Assert.Equal(3, (int)created["spec"]!["weight"]!);
    }
}
