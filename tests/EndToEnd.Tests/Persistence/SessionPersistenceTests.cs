using System.Diagnostics;
using System.Globalization;
using System.Net;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Persistence;

/// <summary>
/// Issue 5: persistence that holds across two agents of one tier (bound to 127.0.0.1 and
/// 127.0.0.2 on the same port), real backends, lbctl for changes.
/// </summary>
public sealed class SessionPersistenceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task CookieSession_HoldsAcrossAgents_SurvivesTampering_MovesOnKill_AndStaysWhileDraining()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(1) }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("s-1"), await cluster.StartBackendAsync("s-2"), await cluster.StartBackendAsync("s-3") };
            var port = Ports.Free();
            await cluster.StartAgentAsync("edge", "edge-a", bind: "127.0.0.1");
            await cluster.StartAgentAsync("edge", "edge-b", bind: "127.0.0.2");
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("shop", extra: "  sessionPersistence: {type: cookie, cookieName: lb-session, ttl: 1h}\n  drainTimeout: 60s"),
                Yaml.Backend("s-1", "shop", backends[0].Port),
                Yaml.Backend("s-2", "shop", backends[1].Port),
                Yaml.Backend("s-3", "shop", backends[2].Port),
                Yaml.HttpListener("web", "edge", port, "shop")));
            Assert.True(apply.ExitCode == 0, apply.ToString());

            string[] agents = [$"http://127.0.0.1:{port}/cart", $"http://127.0.0.2:{port}/cart"];
            foreach (var url in agents)
            {
                await Wait.UntilAsync(async () => (await SendAsync(client, url, null)).Backend is not null, Propagation, $"{url} to serve", cluster.Diagnostics);
            }

            // The first request places the session; 100 more alternate between the two agents.
            var first = await SendAsync(client, agents[0], null);
            Assert.NotNull(first.Cookie);
            var cookie = first.Cookie!;
            for (var i = 0; i < 100; i++)
            {
                var next = await SendAsync(client, agents[i % 2], cookie);
                Assert.Equal(first.Backend, next.Backend);
                Assert.Null(next.Cookie);
            }
            output.WriteLine($"session stuck to {first.Backend} across both agents");

            // A tampered cookie (another backend's name under the old MAC) is ignored, and the
            // request is placed by the algorithm on a backend of the pool with a fresh cookie.
            var other = first.Backend == "s-1" ? "s-2" : "s-1";
            var parts = cookie.Split('.');
            var tampered = $"{parts[0]}.{Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(other)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}.{parts[2]}";
            var forged = $"{parts[0]}.{Convert.ToBase64String("10.0.0.1:80"u8.ToArray()).TrimEnd('=')}.AAAAAAAAAAAAAAAAAAAAAA";
            foreach (var bad in new[] { tampered, forged, "garbage" })
            {
                for (var i = 0; i < 6; i++)
                {
                    var answer = await SendAsync(client, agents[i % 2], bad);
                    Assert.Contains(answer.Backend, new[] { "s-1", "s-2", "s-3" });
                    Assert.NotNull(answer.Cookie);
                }
            }

            // Drain the sticky backend: the session keeps going to it, new sessions avoid it.
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "drain", first.Backend!)).ExitCode);
            await Wait.UntilAsync(
                async () =>
                {
                    for (var i = 0; i < 6; i++)
                    {
                        if ((await SendAsync(client, agents[i % 2], null)).Backend == first.Backend)
                        {
                            return false;
                        }
                    }
                    return true;
                },
                Propagation,
                "new sessions to avoid the draining backend",
                cluster.Diagnostics);
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(first.Backend, (await SendAsync(client, agents[i % 2], cookie)).Backend);
            }

            // Kill the sticky backend: the next request succeeds elsewhere and the cookie changes.
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "enable", first.Backend!)).ExitCode);
            await backends.Single(b => b.Name == first.Backend).Process.DisposeAsync();
            var moved = await SendAsync(client, agents[1], cookie);
            Assert.NotNull(moved.Backend);
            Assert.NotEqual(first.Backend, moved.Backend);
            Assert.NotNull(moved.Cookie);
            Assert.NotEqual(cookie, moved.Cookie);
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(moved.Backend, (await SendAsync(client, agents[i % 2], moved.Cookie)).Backend);
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task HeaderAndSourceIpSessions_LandOnTheSameBackendOnEveryAgent()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("h-1"), await cluster.StartBackendAsync("h-2"), await cluster.StartBackendAsync("h-3") };
            var headerPort = Ports.Free();
            var ipPort = Ports.Free();
            await cluster.StartAgentAsync("internal", "int-a", bind: "127.0.0.1");
            await cluster.StartAgentAsync("internal", "int-b", bind: "127.0.0.2");
            var docs = new List<string>
            {
                Yaml.Pool("by-header", extra: "  sessionPersistence: {type: header, headerName: x-session}"),
                Yaml.Pool("by-ip", extra: "  sessionPersistence: {type: source-ip}"),
            };
            foreach (var backend in backends)
            {
                docs.Add(Yaml.Backend(backend.Name + "-hdr", "by-header", backend.Port));
                docs.Add(Yaml.Backend(backend.Name + "-ip", "by-ip", backend.Port));
            }
            docs.Add(Yaml.HttpListener("hdr", "internal", headerPort, "by-header"));
            docs.Add(Yaml.HttpListener("ip", "internal", ipPort, "by-ip"));
            var apply = await cluster.ApplyAsync(Yaml.Join([.. docs]));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            await Wait.UntilAsync(async () => (await SendAsync(client, $"http://127.0.0.2:{headerPort}/", null)).Backend is not null, Propagation, "the header listener", cluster.Diagnostics);
            await Wait.UntilAsync(async () => (await SendAsync(client, $"http://127.0.0.2:{ipPort}/", null)).Backend is not null, Propagation, "the ip listener", cluster.Diagnostics);

            var seen = new HashSet<string>();
            for (var session = 0; session < 30; session++)
            {
                var value = "user-" + session.ToString(CultureInfo.InvariantCulture);
                var expected = await SendWithHeaderAsync(client, $"http://127.0.0.1:{headerPort}/", value);
                Assert.NotNull(expected);
                seen.Add(expected!);
                for (var i = 0; i < 4; i++)
                {
                    Assert.Equal(expected, await SendWithHeaderAsync(client, $"http://127.0.0.{1 + (i % 2)}:{headerPort}/", value));
                }
            }
            Assert.True(seen.Count > 1, "different session values spread over several backends");

            var byIp = (await SendAsync(client, $"http://127.0.0.1:{ipPort}/", null)).Backend;
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(byIp, (await SendAsync(client, $"http://127.0.0.{1 + (i % 2)}:{ipPort}/", null)).Backend);
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task DisabledStickyBackend_ReSticksWithANewCookie_AndHeaderSessionStaysOnADrainingBackendUntilDrainTimeout()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(1) }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("p-1"), await cluster.StartBackendAsync("p-2"), await cluster.StartBackendAsync("p-3") };
            var cookiePort = Ports.Free();
            var headerPort = Ports.Free();
            var agent = await cluster.StartAgentAsync("edge", "edge-a");
            var drainTimeout = TimeSpan.FromSeconds(8);
            // X-Backend names the process: the header pool's backends carry the same names, the
            // cookie pool's a "c-" prefix.
            var docs = new List<string>
            {
                Yaml.Pool("carts", extra: "  sessionPersistence: {type: cookie, cookieName: lb-session, ttl: 1h}"),
                Yaml.Pool("by-header", extra: $"  sessionPersistence: {{type: header, headerName: x-session}}\n  drainTimeout: {drainTimeout.TotalSeconds:0}s"),
            };
            foreach (var backend in backends)
            {
                docs.Add(Yaml.Backend("c-" + backend.Name, "carts", backend.Port));
                docs.Add(Yaml.Backend(backend.Name, "by-header", backend.Port));
            }
            docs.Add(Yaml.HttpListener("carts", "edge", cookiePort, "carts"));
            docs.Add(Yaml.HttpListener("hdr", "edge", headerPort, "by-header"));
            var apply = await cluster.ApplyAsync(Yaml.Join([.. docs]));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var cookieUrl = $"http://127.0.0.1:{cookiePort}/cart";
            var headerUrl = $"http://127.0.0.1:{headerPort}/";
            await Wait.UntilAsync(async () => (await SendAsync(client, cookieUrl, null)).Backend is not null, Propagation, "the cookie listener", cluster.Diagnostics);
            await Wait.UntilAsync(async () => await SendWithHeaderAsync(client, headerUrl, "probe") is not null, Propagation, "the header listener", cluster.Diagnostics);

            // (f) Disable the sticky backend: the session's next request lands on another backend
            // with a new cookie, and the new cookie holds there.
            var first = await SendAsync(client, cookieUrl, null);
            Assert.NotNull(first.Cookie);
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "disable", "c-" + first.Backend)).ExitCode);
            await MovedAsync(cluster, client, cookieUrl, first, "the session to leave the disabled backend");

            // (g) Drain the backend a header value hashes to. A hashed session cannot be told new
            // from old, so the value stays on the draining backend until drainTimeout, then moves.
            const string Session = "user-42";
            var owner = await SendWithHeaderAsync(client, headerUrl, Session);
            Assert.NotNull(owner);
            var sinceDrain = Stopwatch.StartNew();
            Assert.Equal(0, (await cluster.LbctlAsync("backend", "drain", owner!)).ExitCode);
            await Wait.UntilAsync(
                async () => (await cluster.Http.GetStringAsync(agent.AdminUrl + "/metrics")).Contains($"lb_agent_backend_admin_state{{pool=\"by-header\",backend=\"{owner}\"}} 1", StringComparison.Ordinal),
                Propagation,
                "the agent to see the backend draining",
                cluster.Diagnostics);
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(owner, await SendWithHeaderAsync(client, headerUrl, Session));
            }
            Assert.True(sinceDrain.Elapsed < drainTimeout, $"the draining checks ran {sinceDrain.Elapsed} after the drain: past drainTimeout, they proved nothing");

            string? after = null;
            await Wait.UntilAsync(
                async () => (after = await SendWithHeaderAsync(client, headerUrl, Session)) is { } now && now != owner,
                drainTimeout + Propagation,
                "the header session to leave the drained backend",
                cluster.Diagnostics);
            output.WriteLine($"header session left {owner} for {after} {sinceDrain.Elapsed.TotalMilliseconds:0} ms after the drain");
            Assert.True(sinceDrain.Elapsed >= drainTimeout, $"moved after {sinceDrain.Elapsed}, before drainTimeout {drainTimeout}");
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(after, await SendWithHeaderAsync(client, headerUrl, Session));
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task CookieSession_LeavesAnUnhealthyOrRemovedStickyBackend_WithANewCookieEachTime()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(1) }) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var backends = new[] { await cluster.StartBackendAsync("u-1"), await cluster.StartBackendAsync("u-2"), await cluster.StartBackendAsync("u-3") };
            var port = Ports.Free();
            await cluster.StartAgentAsync("edge", "edge-a");
            var apply = await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("checked-carts", extra: "  sessionPersistence: {type: cookie, cookieName: lb-session, ttl: 1h}\n  healthCheck: {type: http, path: /healthz, interval: 1s, timeout: 800ms, healthyThreshold: 1, unhealthyThreshold: 1}"),
                Yaml.Backend("u-1", "checked-carts", backends[0].Port),
                Yaml.Backend("u-2", "checked-carts", backends[1].Port),
                Yaml.Backend("u-3", "checked-carts", backends[2].Port),
                Yaml.HttpListener("checked-carts", "edge", port, "checked-carts")));
            Assert.True(apply.ExitCode == 0, apply.ToString());
            var url = $"http://127.0.0.1:{port}/cart";
            await Wait.UntilAsync(
                async () => (await cluster.Management.GetBackendAsync(new GetRequest { Name = "u-3" })).Status.Agents.Any(a => a.State == "healthy"),
                Propagation,
                "the checks to pass",
                cluster.Diagnostics);

            // The sticky backend fails its health check: the session moves, with a new cookie that holds.
            var first = await SendAsync(client, url, null);
            Assert.NotNull(first.Cookie);
            var sticky = backends.Single(b => b.Name == first.Backend);
            await cluster.Http.PostAsync($"http://127.0.0.1:{sticky.Port}/admin/health/down", null);
            var moved = await MovedAsync(cluster, client, url, first, "the session to leave the unhealthy backend");

            // The new sticky backend is deleted: the session moves again, with another new cookie.
            Assert.Equal(0, (await cluster.LbctlAsync("delete", "backend", moved.Backend!)).ExitCode);
            var again = await MovedAsync(cluster, client, url, moved, "the session to leave the removed backend");
            Assert.NotEqual(first.Backend, again.Backend);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>Waits until the session's next request lands elsewhere; checks it got a new cookie that then holds.</summary>
    private static async Task<(string? Backend, string? Cookie)> MovedAsync(TestCluster cluster, HttpClient client, string url, (string? Backend, string? Cookie) from, string what)
    {
        (string? Backend, string? Cookie) moved = default;
        await Wait.UntilAsync(async () => (moved = await SendAsync(client, url, from.Cookie)).Backend is { } now && now != from.Backend, Propagation, what, cluster.Diagnostics);
        Assert.NotNull(moved.Cookie);
        Assert.NotEqual(from.Cookie, moved.Cookie);
        for (var i = 0; i < 5; i++)
        {
            var next = await SendAsync(client, url, moved.Cookie);
            Assert.Equal(moved.Backend, next.Backend);
            Assert.Null(next.Cookie);
        }
        return moved;
    }

    private static async Task<(string? Backend, string? Cookie)> SendAsync(HttpClient client, string url, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", "lb-session=" + cookie);
        }
        using var response = await client.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (null, null);
        }
        string? setCookie = null;
        if (response.Headers.TryGetValues("Set-Cookie", out var values))
        {
            foreach (var value in values)
            {
                if (value.StartsWith("lb-session=", StringComparison.Ordinal))
                {
                    setCookie = value["lb-session=".Length..].Split(';')[0];
                    Assert.Contains("httponly", value, StringComparison.OrdinalIgnoreCase);
                    Assert.Contains("samesite=lax", value, StringComparison.OrdinalIgnoreCase);
                }
            }
        }
        return (response.Headers.GetValues("X-Backend").First(), setCookie);
    }

    private static async Task<string?> SendWithHeaderAsync(HttpClient client, string url, string value)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("x-session", value);
        using var response = await client.SendAsync(request);
        return response.IsSuccessStatusCode ? response.Headers.GetValues("X-Backend").First() : null;
    }
}
