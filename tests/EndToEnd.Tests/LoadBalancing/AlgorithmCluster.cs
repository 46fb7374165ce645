using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.LoadBalancing;

/// <summary>
/// One control plane, one edge agent and the backends shared by every pool of
/// <see cref="AlgorithmTests"/>: a listener and a pool per algorithm, applied in one lbctl run.
/// Three sample-backend processes (a, b, c) serve most pools; in-process backends serve the
/// pools whose test needs to hold requests in flight (least-connections) or a backend that is
/// slow as a whole (least-response-time).
/// </summary>
public sealed class AlgorithmCluster : IAsyncLifetime
{
    public static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    /// <summary>The delay of the slow backend of the least-response-time pool.</summary>
    public static readonly TimeSpan SlowDelay = TimeSpan.FromMilliseconds(100);

    private readonly Dictionary<string, int> _ports = new(StringComparer.Ordinal);
    private readonly List<ControlledBackend> _controlled = [];

    public TestCluster Cluster { get; private set; } = null!;

    /// <summary>The sample-backend processes, shared by most pools.</summary>
    public IReadOnlyList<BackendHandle> Shared { get; private set; } = [];

    /// <summary>In-process backends that can hold requests, for the least-connections pools.</summary>
    public IReadOnlyList<ControlledBackend> Holders { get; private set; } = [];

    public ControlledBackend Slow { get; private set; } = null!;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>The URL of the listener in front of a pool, e.g. <c>Url("rr", "/x")</c>.</summary>
    public string Url(string pool, string path = "/") =>
        $"http://127.0.0.1:{_ports[pool].ToString(CultureInfo.InvariantCulture)}{path}";

    public async Task InitializeAsync()
    {
        Cluster = await TestCluster.StartAsync();
        var startShared = new[] { "alg-a", "alg-b", "alg-c" }.Select(Cluster.StartBackendAsync).ToArray();
        var startAgent = Cluster.StartAgentAsync("edge", "edge-alg");
        var holders = new List<ControlledBackend>();
        foreach (var name in new[] { "hold-x", "hold-y", "hold-z" })
        {
            holders.Add(Track(await ControlledBackend.StartAsync(name)));
        }
        Holders = holders;
        Slow = Track(await ControlledBackend.StartAsync("slow-s", SlowDelay));
        Shared = await Task.WhenAll(startShared);
        await startAgent;

        var a = Shared[0].Port;
        var b = Shared[1].Port;
        var c = Shared[2].Port;
        var (x, y, z) = (Holders[0].Port, Holders[1].Port, Holders[2].Port);
        var yaml = Yaml.Join(
            PoolWithListener("rr", "round-robin", "", (a, 1), (b, 1), (c, 1)),
            PoolWithListener("wrr", "weighted-round-robin", "", (a, 3), (b, 1), (c, 1)),
            PoolWithListener("lc", "least-connections", "", (x, 1), (y, 1), (z, 1)),
            PoolWithListener("wlc", "weighted-least-connections", "", (x, 3), (y, 1), (z, 1)),
            PoolWithListener("lrt", "least-response-time", "", (a, 1), (b, 1), (Slow.Port, 1)),
            PoolWithListener("random", "random", "", (a, 1), (b, 1), (c, 1)),
            PoolWithListener("p2c", "power-of-two", "", (a, 1), (b, 1), (c, 1)),
            PoolWithListener("iphash", "ip-hash", "", (a, 1), (b, 1), (c, 1)),
            PoolWithListener("chuser", "consistent-hash", "  hashOn: header x-user", (a, 1), (b, 1), (c, 1)),
            PoolWithListener("chpath", "consistent-hash", "  hashOn: path", (a, 1), (b, 1), (c, 1)));
        var apply = await Cluster.ApplyAsync(yaml);
        if (apply.ExitCode != 0)
        {
            throw new InvalidOperationException("lbctl apply failed: " + apply);
        }

        // Every listener serves before any test runs (the agent applies the snapshot as a whole).
        foreach (var pool in _ports.Keys)
        {
            await Wait.UntilAsync(
                async () => await Cluster.WhoAnswersAsync(Url(pool, "/ready")) is not null,
                Propagation,
                $"the {pool} listener to serve",
                Cluster.Diagnostics);
        }
    }

    private string PoolWithListener(string pool, string algorithm, string extra, params (int Port, int Weight)[] backends)
    {
        var port = Ports.Free();
        _ports[pool] = port;
        var documents = new List<string> { Yaml.Pool(pool, algorithm, extra: extra) };
        for (var i = 0; i < backends.Length; i++)
        {
            documents.Add(Yaml.Backend($"{pool}-{i.ToString(CultureInfo.InvariantCulture)}", pool, backends[i].Port, backends[i].Weight));
        }
        documents.Add(Yaml.HttpListener(pool, "edge", port, pool));
        return Yaml.Join([.. documents]);
    }

    private ControlledBackend Track(ControlledBackend backend)
    {
        _controlled.Add(backend);
        return backend;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
        foreach (var backend in _controlled)
        {
            await backend.DisposeAsync();
        }
    }
}
