using System.Net;
using System.Text.Json.Nodes;
using LoadBalancer.ControlPlane.Tests.Dashboard;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.History;

/// <summary>History over REST (/v1/history, /v1/rollback): viewers read, only admins roll back, bad targets are 400 naming the field.</summary>
public sealed class HistoryRestTests : IAsyncLifetime
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

    [Fact]
    public async Task Rest_ViewerReadsHistory_AdminRollsBack()
    {
        var admin = _server.AdminToken;
        var viewer = await _server.CreateTokenAsync("viewer");
        await _rest.JsonAsync(HttpMethod.Post, "/v1/pools", admin, JsonNode.Parse("""{"pool": {"metadata": {"name": "web"}, "spec": {"protocol": "http"}}}"""));
        await _rest.JsonAsync(HttpMethod.Post, "/v1/pools", admin, JsonNode.Parse("""{"pool": {"metadata": {"name": "api"}, "spec": {"protocol": "http"}}}"""));

        var history = await _rest.JsonAsync(HttpMethod.Get, "/v1/history", viewer);
        var current = long.Parse(history["currentRevision"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture);
        var newest = history["items"]!.AsArray()[0]!;
        Assert.Equal("api", (string?)newest["changes"]![0]!["name"]);

        var before = current - 1;
        var content = await _rest.JsonAsync(HttpMethod.Get, $"/v1/history/{before}", viewer);
        Assert.Equal("web", (string?)content["resources"]!.AsArray().Single()!["pool"]!["metadata"]!["name"]);
        var diff = await _rest.JsonAsync(HttpMethod.Get, $"/v1/history/{before}/diff", viewer);
        Assert.Equal("added", (string?)diff["changes"]!.AsArray().Single()!["change"]);

        var fingerprint = await _server.FingerprintAsync();
        using (var refused = await _rest.SendAsync(HttpMethod.Post, "/v1/rollback", viewer, new JsonObject { ["to"] = before }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var missing = await _rest.SendAsync(HttpMethod.Post, "/v1/rollback", admin, new JsonObject { ["to"] = current + 5 }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Contains("to: revision", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(fingerprint, await _server.FingerprintAsync());

        var rolledBack = await _rest.JsonAsync(HttpMethod.Post, "/v1/rollback", admin, new JsonObject { ["to"] = before });
        Assert.Equal((current + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), rolledBack["revision"]!.ToString());
        Assert.Equal("removed", (string?)rolledBack["changes"]!.AsArray().Single()!["change"]);
    }
}
