using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Hosting;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Listeners;

/// <summary>
/// The agent's services wired as in production (the sync client retries against a closed port,
/// harmlessly), real listeners on loopback ports, real backends.
/// </summary>
public sealed class ListenerManagerTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(8);

    private readonly string _cacheDirectory = Path.Combine(Path.GetTempPath(), "agent-listeners-" + Guid.NewGuid().ToString("N"));
    private WebApplication _app = null!;
    private TestHttpBackend _one = null!;
    private TestHttpBackend _two = null!;
    private long _revision;

    private ConfigApplier Applier => _app.Services.GetRequiredService<ConfigApplier>();

    private ListenerManager Manager => _app.Services.GetRequiredService<ListenerManager>();

    public async Task InitializeAsync()
    {
        var options = new AgentOptions
        {
            ControlPlanes = [new Uri($"http://127.0.0.1:{Ports.Free()}")],
            Tier = "edge",
            Name = "test-agent",
            CacheDirectory = _cacheDirectory,
            AdminUrl = "http://127.0.0.1:0",
            BindAddress = IPAddress.Loopback,
        };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.AdminUrl);
        builder.Services.AddAgent(options);
        _app = builder.Build();
        await _app.StartAsync();
        _one = await TestHttpBackend.StartAsync("one");
        _two = await TestHttpBackend.StartAsync("two");
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _one.DisposeAsync();
        await _two.DisposeAsync();
        if (Directory.Exists(_cacheDirectory))
        {
            Directory.Delete(_cacheDirectory, recursive: true);
        }
    }

    private Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(params ListenerConfig[] listeners) =>
        Applier.ApplyAsync(
            new AgentConfig(
                ++_revision,
                "hash-" + _revision,
                "edge",
                listeners,
                [Pool("one", [Backend("b1", _one.Port)]), Pool("two", [Backend("b2", _two.Port)])],
                []),
            CancellationToken.None);

    private static async Task<string> GetAsync(int port, string host = "app.test")
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
        request.Headers.Host = host;
        using var response = await client.SendAsync(request);
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    private static async Task<bool> AcceptsConnectionsAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Apply_HttpListener_ProxiesToTheRoutedBackend()
    {
        var port = Ports.Free();

        var outcomes = await ApplyAsync(Http("public", port, Route("one")));

        Assert.Equal([new ListenerOutcome("public", true, string.Empty)], outcomes);
        Assert.Equal("200 one", await GetAsync(port));
        Assert.True(Applier.HasConfig);
        Assert.Equal(_revision, Applier.Current.Revision);
    }

    [Fact]
    public async Task Apply_AfterStopping_ChangesNothing_SoADrainIsNeverUndone()
    {
        var kept = Ports.Free();
        var added = Ports.Free();
        await ApplyAsync(Http("kept", kept, Route("one")));

        // SIGTERM: listeners drain; a snapshot arriving now must not reopen or add any.
        await Manager.StopAllAsync(TimeSpan.FromSeconds(1));
        var outcomes = await ApplyAsync(Http("kept", kept, Route("one")), Http("added", added, Route("two")));

        Assert.False(await AcceptsConnectionsAsync(kept), "the drained listener stays closed");
        Assert.False(await AcceptsConnectionsAsync(added), "no listener is opened while stopping");
        Assert.DoesNotContain(outcomes, o => o.Name == "added");
    }

    [Fact]
    public async Task Apply_RoutesByHost_UnknownHostGets404()
    {
        var port = Ports.Free();

        await ApplyAsync(Http("public", port, Route("one", "/", "one.test"), Route("two", "/", "*.two.test")));

        Assert.Equal("200 one", await GetAsync(port, "one.test"));
        Assert.Equal("200 two", await GetAsync(port, "x.two.test:" + port));
        Assert.StartsWith("404 ", await GetAsync(port, "three.test"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_PortInUse_FailsAlone_ThenComesUpWhenFreed()
    {
        var good = Ports.Free();
        var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var taken = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Manager.OutcomesChanged += () => changed.TrySetResult();

        try
        {
            var outcomes = await ApplyAsync(Http("good", good, Route("one")), Http("blocked", taken, Route("two")));

            Assert.True(outcomes.Single(o => o.Name == "good").Programmed);
            var blocked = outcomes.Single(o => o.Name == "blocked");
            Assert.False(blocked.Programmed);
            Assert.Contains("in use", blocked.Reason, StringComparison.Ordinal);
            Assert.Equal("200 one", await GetAsync(good));
        }
        finally
        {
            blocker.Stop();
        }

        await changed.Task.WaitAsync(Wait);
        Assert.All(Manager.Outcomes, o => Assert.True(o.Programmed, o.Name));
        Assert.Equal("200 two", await GetAsync(taken));
        Assert.Equal("200 one", await GetAsync(good));
    }

    [Fact]
    public async Task Apply_RemovedListener_ClosesItsPort_OthersKeepServing()
    {
        var kept = Ports.Free();
        var removed = Ports.Free();
        await ApplyAsync(Http("kept", kept, Route("one")), Http("removed", removed, Route("two")));
        Assert.Equal("200 two", await GetAsync(removed));

        await ApplyAsync(Http("kept", kept, Route("one")));

        Assert.False(await AcceptsConnectionsAsync(removed));
        Assert.Equal("200 one", await GetAsync(kept));
        Assert.Equal(["kept"], Manager.Outcomes.Select(o => o.Name));
    }

    [Fact]
    public async Task Apply_OnlyRoutesChanged_KeepsOpenConnectionsAndServesNewRoutes()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one")));
        using var connection = new TcpClient();
        await connection.ConnectAsync(IPAddress.Loopback, port);
        var stream = connection.GetStream();
        Assert.Equal("one", await RawGetAsync(stream));

        await ApplyAsync(Http("public", port, Route("two")));

        // Same TCP connection, second request: the server was not restarted.
        Assert.Equal("two", await RawGetAsync(stream));
    }

    [Fact]
    public async Task Apply_PortChanged_NewPortServes_OldPortCloses()
    {
        var before = Ports.Free();
        var after = Ports.Free();
        await ApplyAsync(Http("public", before, Route("one")));

        var outcomes = await ApplyAsync(Http("public", after, Route("one")));

        Assert.True(Assert.Single(outcomes).Programmed);
        Assert.Equal("200 one", await GetAsync(after));
        Assert.False(await AcceptsConnectionsAsync(before));
    }

    [Fact]
    public async Task Apply_SameConfigTwice_IsANoOp()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one")));
        using var connection = new TcpClient();
        await connection.ConnectAsync(IPAddress.Loopback, port);
        var stream = connection.GetStream();
        Assert.Equal("one", await RawGetAsync(stream));

        var outcomes = await ApplyAsync(Http("public", port, Route("one")));

        Assert.True(Assert.Single(outcomes).Programmed);
        Assert.Equal("one", await RawGetAsync(stream));
    }

    // The control plane accepts a swap of ports within one Apply (commit a53de5a).
    [Fact]
    public async Task Apply_TwoListenersSwapPorts_BothComeUpOnTheirNewPorts()
    {
        var portA = Ports.Free();
        var portB = Ports.Free();
        await ApplyAsync(Http("x", portA, Route("one")), Http("y", portB, Route("two")));

        var outcomes = await ApplyAsync(Http("x", portB, Route("one")), Http("y", portA, Route("two")));

        Assert.All(outcomes, o => Assert.True(o.Programmed, $"{o.Name}: {o.Reason}"));
        Assert.Equal("200 two", await GetAsync(portA));
        Assert.Equal("200 one", await GetAsync(portB));
    }

    [Fact]
    public async Task Apply_ProtocolChangedOnTheSamePort_IsApplied()
    {
        var port = Ports.Free();
        await ApplyAsync(Http("public", port, Route("one", "/", "only.test")));
        Assert.StartsWith("404 ", await GetAsync(port, "other.test"), StringComparison.Ordinal);
        var tcp = new ListenerConfig("public", port, "tcp", EquatableArray<string>.Empty, EquatableArray<RouteConfig>.Empty, "one");

        var outcomes = await ApplyAsync(tcp);

        Assert.True(Assert.Single(outcomes).Programmed, outcomes[0].Reason);
        // Raw TCP to the backend: no route table any more.
        Assert.Equal("200 one", await GetAsync(port, "other.test"));
    }

    [Fact]
    public async Task Apply_FailedPortChangeThenReverted_ListenerStaysOnTheRevertedPort()
    {
        var port = Ports.Free();
        using var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var taken = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Manager.OutcomesChanged += () => changed.TrySetResult();
        await ApplyAsync(Http("public", port, Route("one")));
        Assert.False(Assert.Single(await ApplyAsync(Http("public", taken, Route("one")))).Programmed);

        Assert.True(Assert.Single(await ApplyAsync(Http("public", port, Route("one")))).Programmed);
        blocker.Stop();

        // The retry loop runs every 250 ms with a first backoff of at most 0.6 s: give it ample time.
        var fired = await Task.WhenAny(changed.Task, Task.Delay(TimeSpan.FromSeconds(2.5))) == changed.Task;
        Assert.False(fired, "a retry of the abandoned form changed the outcomes");
        Assert.Equal("200 one", await GetAsync(port));
        Assert.False(await AcceptsConnectionsAsync(taken));
    }

    /// <summary>One HTTP/1.1 keep-alive request on an open connection; returns the body (Content-Length framed).</summary>
    private static async Task<string> RawGetAsync(NetworkStream stream)
    {
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"u8.ToArray());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(read > 0, "the connection was closed");
            received.AddRange(buffer.AsSpan(0, read));
            var text = System.Text.Encoding.ASCII.GetString(received.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }
            Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
            var lengthLine = text[..end].Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (text.Length >= end + 4 + length)
            {
                return text.Substring(end + 4, length);
            }
        }
    }
}
