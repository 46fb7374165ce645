using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Foundation;

/// <summary>
/// Issue 2 end to end: a real control plane, an edge and an internal agent and real HTTP
/// backends, driven by lbctl as a user would.
/// </summary>
public sealed class ThreeTierTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Apply_TwoHttpTiers_RequestsReachEveryBackendAndAgentsReportTheRevision()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var web = new[] { await cluster.StartBackendAsync("web-a"), await cluster.StartBackendAsync("web-b"), await cluster.StartBackendAsync("web-c") };
            var api = new[] { await cluster.StartBackendAsync("api-a"), await cluster.StartBackendAsync("api-b") };
            await cluster.StartAgentAsync("edge", "edge-1");
            await cluster.StartAgentAsync("internal", "internal-1");
            var edgePort = Ports.Free();
            var internalPort = Ports.Free();

            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("storefront", "round-robin"),
                Yaml.Backend(web[0].Name, "storefront", web[0].Port),
                Yaml.Backend(web[1].Name, "storefront", web[1].Port),
                Yaml.Backend(web[2].Name, "storefront", web[2].Port),
                Yaml.HttpListener("shop-front", "edge", edgePort, "storefront", host: "shop.test"),
                Yaml.Pool("orders-api", "round-robin"),
                Yaml.Backend(api[0].Name, "orders-api", api[0].Port),
                Yaml.Backend(api[1].Name, "orders-api", api[1].Port),
                Yaml.HttpListener("orders", "internal", internalPort, "orders-api")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            Assert.Contains("pool/storefront created", apply.Stdout, StringComparison.Ordinal);

            var edgeUrl = $"http://127.0.0.1:{edgePort}/products";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(edgeUrl, "shop.test") is not null, Propagation, "the edge listener to serve", cluster.Diagnostics);
            var edgeCounts = await cluster.CountBackendsAsync(edgeUrl, 30, "shop.test");
            output.WriteLine("edge: " + string.Join(", ", edgeCounts.Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.Equal(["web-a", "web-b", "web-c"], edgeCounts.Keys.Order().ToArray());
            Assert.All(edgeCounts.Values, count => Assert.Equal(10, count));

            // A host the edge listener has no route for is answered 404 by the agent itself.
            using (var response = await cluster.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, edgeUrl) { Headers = { Host = "other.test" } }))
            {
                Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
            }

            var internalUrl = $"http://127.0.0.1:{internalPort}/orders/42";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(internalUrl) is not null, Propagation, "the internal listener to serve", cluster.Diagnostics);
            var internalCounts = await cluster.CountBackendsAsync(internalUrl, 20);
            Assert.Equal(["api-a", "api-b"], internalCounts.Keys.Order().ToArray());

            // Each agent reports the revision it applied; lbctl shows it.
            var revision = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            await Wait.UntilAsync(
                async () =>
                {
                    var agents = await cluster.LbctlAsync("get", "agents", "-o", "json");
                    var items = JsonDocument.Parse(agents.Stdout).RootElement.GetProperty("items").EnumerateArray().ToList();
                    return items.Count == 2 && items.All(a =>
                        a.GetProperty("status").TryGetProperty("appliedRevision", out var applied)
                        && long.Parse(applied.GetString()!, System.Globalization.CultureInfo.InvariantCulture) == revision
                        && a.GetProperty("status").GetProperty("connected").GetBoolean());
                },
                Propagation,
                $"both agents to report revision {revision}",
                cluster.Diagnostics);

            var table = await cluster.LbctlAsync("get", "agents");
            Assert.Equal(0, table.ExitCode);
            Assert.Contains("edge-1", table.Stdout, StringComparison.Ordinal);
            Assert.Contains(revision.ToString(System.Globalization.CultureInfo.InvariantCulture), table.Stdout, StringComparison.Ordinal);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Backend_AddedWithLbctl_TakesTrafficWithinOneSecond_AndRemovedOneStops()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var first = await cluster.StartBackendAsync("app-1");
            var second = await cluster.StartBackendAsync("app-2");
            await cluster.StartAgentAsync("edge", "edge-1");
            var port = Ports.Free();
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("app"),
                Yaml.Backend("app-1", "app", first.Port),
                Yaml.HttpListener("app-http", "edge", port, "app")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var url = $"http://127.0.0.1:{port}/";
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "app-1", Propagation, "app-1 to serve", cluster.Diagnostics);

            // Warm the path once (a weight change, compiled, pushed, applied and serving) and
            // app-2's own first request: what is timed below is propagation, not the first-call
            // JIT of three freshly started processes.
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Backend("app-1", "app", first.Port, weight: 2))).ExitCode);
            var weighted = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;
            await Wait.UntilAsync(async () => (await cluster.Management.GetAgentAsync(new GetRequest { Name = "edge-1" })).Status.AppliedRevision == weighted, Propagation, "the weight change to be applied", cluster.Diagnostics);
            Assert.Equal("app-2", await cluster.WhoAnswersAsync($"http://127.0.0.1:{second.Port}/"));

            // Timed up to three times, every figure printed: one stall of a loaded machine is not a
            // slow push, while a push that is slow every time still fails.
            var timings = new List<TimeSpan>();
            while (true)
            {
                var add = await cluster.ApplyAsync(Yaml.Backend("app-2", "app", second.Port));
                Assert.True(add.ExitCode == 0, add.ToString());
                timings.Add(await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync(url) == "app-2", Propagation, "app-2 to take traffic", cluster.Diagnostics));
                if (timings[^1] < TimeSpan.FromSeconds(1) || timings.Count == 3)
                {
                    break;
                }
                Assert.Equal(0, (await cluster.LbctlAsync("delete", "backend", "app-2")).ExitCode);
                await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 4)).Keys.SequenceEqual(["app-1"]), Propagation, "app-2 to be removed before timing again", cluster.Diagnostics);
            }
            var figures = string.Join(", ", timings.Select(t => $"{t.TotalMilliseconds:0} ms"));
            output.WriteLine($"new backend took traffic {figures} after lbctl returned");
            Assert.True(timings.Min() < TimeSpan.FromSeconds(1), $"took {figures}");

            var delete = await cluster.LbctlAsync("delete", "backend", "app-1");
            Assert.True(delete.ExitCode == 0, delete.ToString());
            await Wait.UntilAsync(async () => (await cluster.CountBackendsAsync(url, 4)).Keys.SequenceEqual(["app-2"]), Propagation, "app-1 to stop getting requests", cluster.Diagnostics);
            var after = await cluster.CountBackendsAsync(url, 20);
            Assert.Equal(["app-2"], after.Keys.ToArray());
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Listener_AddedOnNewPort_Serves_AndDeletedOneStops()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("svc-1");
            await cluster.StartAgentAsync("internal", "internal-1");
            var port = Ports.Free();
            var extraPort = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("svc"), Yaml.Backend("svc-1", "svc", backend.Port), Yaml.HttpListener("main", "internal", port, "svc")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/") == "svc-1", Propagation, "main listener", cluster.Diagnostics);

            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.HttpListener("extra", "internal", extraPort, "svc", pathPrefix: "/v2"))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{extraPort}/v2/items") == "svc-1", Propagation, "the new listener to serve", cluster.Diagnostics);

            Assert.Equal(0, (await cluster.LbctlAsync("delete", "listener", "extra")).ExitCode);
            await Wait.UntilAsync(() => !IsListening(extraPort), Propagation, "the deleted listener's port to close", cluster.Diagnostics);
            // The other listener was never touched.
            Assert.Equal("svc-1", await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/"));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task Apply_WithOneInvalidDocument_ChangesNothing_AndNamesEachField()
    {
        await using var cluster = await TestCluster.StartAsync();
        var before = (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision;

        var result = await cluster.ApplyAsync(Yaml.Join(
            Yaml.Pool("good-pool"),
            Yaml.Backend("heavy", "good-pool", 9000, weight: 100000),
            Yaml.Backend("light", "good-pool", 9001, weight: 0),
            Yaml.HttpListener("lost", "edge", 8080, "no-such-pool")));

        Assert.Equal(1, result.ExitCode);
        var errors = result.Stdout + result.Stderr;
        Assert.Contains("weight", errors, StringComparison.Ordinal);
        Assert.Contains("no-such-pool", errors, StringComparison.Ordinal);
        Assert.Equal(before, (await cluster.Management.GetStatusAsync(new GetStatusRequest())).Revision);
        Assert.Empty((await cluster.Management.ListPoolsAsync(new ListRequest())).Items);
        Assert.Empty((await cluster.Management.ListBackendsAsync(new ListRequest())).Items);

        var missingPort = await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("p"), "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: no-port}\nspec: {pool: p, address: 127.0.0.1}\n"));
        Assert.Equal(1, missingPort.ExitCode);
        Assert.Contains("address", missingPort.Stdout + missingPort.Stderr, StringComparison.Ordinal);
        Assert.Empty((await cluster.Management.ListPoolsAsync(new ListRequest())).Items);
    }

    [Fact]
    public async Task Update_WithStaleResourceVersion_IsRefusedAndChangesNothing()
    {
        await using var cluster = await TestCluster.StartAsync();
        Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("pool-a"), Yaml.Backend("b-1", "pool-a", 9100)))).ExitCode);
        var read = await cluster.Management.GetBackendAsync(new GetRequest { Name = "b-1" });

        var first = read.Clone();
        first.Spec.Weight = 5;
        var updated = await cluster.Management.UpdateBackendAsync(new WriteBackendRequest { Backend = first });
        Assert.True(updated.Metadata.ResourceVersion > read.Metadata.ResourceVersion);

        var stale = read.Clone();
        stale.Spec.Weight = 9;
        var error = await Assert.ThrowsAsync<RpcException>(async () => await cluster.Management.UpdateBackendAsync(new WriteBackendRequest { Backend = stale }));
        Assert.Equal(StatusCode.Aborted, error.StatusCode);
        var now = await cluster.Management.GetBackendAsync(new GetRequest { Name = "b-1" });
        Assert.Equal(5, now.Spec.Weight);
        Assert.Equal(updated.Metadata.ResourceVersion, now.Metadata.ResourceVersion);
    }

    private static bool IsListening(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
