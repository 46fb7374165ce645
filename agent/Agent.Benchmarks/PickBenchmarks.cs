using BenchmarkDotNet.Attributes;
using LoadBalancer.Agent.LoadBalancing;

namespace LoadBalancer.Agent.Benchmarks;

/// <summary>Cost of one pick, per algorithm and pool size, on a healthy pool with some load.</summary>
[MemoryDiagnoser]
public class PickBenchmarks
{
    private const int PicksPerInvoke = 1_024;

    private ILoadBalancer _balancer = null!;
    private ulong _key;

    [ParamsSource(nameof(Algorithms))]
    public string Algorithm { get; set; } = "";

    [Params(10, 1_000, 10_000)]
    public int Backends { get; set; }

    public static IEnumerable<string> Algorithms => LoadBalancingAlgorithms.All;

    [GlobalSetup]
    public void Setup()
    {
        _balancer = LoadBalancerFactory.Create(
            new LoadBalancingOptions(Algorithm, Algorithm == LoadBalancingAlgorithms.ConsistentHash ? "header X-User" : ""),
            BenchmarkPools.Build(Backends),
            previous: null);
    }

    [Benchmark(OperationsPerInvoke = PicksPerInvoke)]
    public BackendState? Pick()
    {
        BackendState? last = null;
        for (var i = 0; i < PicksPerInvoke; i++)
        {
            // A different key every pick, as client addresses or session ids would be.
            var context = new PickContext(StableHash.Mix(++_key));
            last = _balancer.Pick(in context);
        }
        return last;
    }
}

/// <summary>Cost of rebuilding a pool's balancer from scratch, the hash table and the WRR sequence being the expensive ones.</summary>
[MemoryDiagnoser]
public class BuildBenchmarks
{
    private BackendState[] _backends = [];

    [Params(1_000, 10_000)]
    public int Backends { get; set; }

    [GlobalSetup]
    public void Setup() => _backends = BenchmarkPools.Build(Backends);

    [Benchmark]
    public ILoadBalancer ConsistentHash() =>
        LoadBalancerFactory.Create(new LoadBalancingOptions(LoadBalancingAlgorithms.ConsistentHash, "header X-User"), _backends, null);

    [Benchmark]
    public ILoadBalancer WeightedRoundRobin() =>
        LoadBalancerFactory.Create(new LoadBalancingOptions(LoadBalancingAlgorithms.WeightedRoundRobin, ""), _backends, null);
}

internal static class BenchmarkPools
{
    /// <summary>A healthy pool with weights 1-5, a few requests in flight and latency averages recorded.</summary>
    public static BackendState[] Build(int count)
    {
        var random = new Random(42);
        var backends = new BackendState[count];
        for (var i = 0; i < count; i++)
        {
            var backend = new BackendState("bench", $"backend-{i}", "10.0.0.1", 10_000 + (i % 50_000), 1 + (i % 5))
            {
                Health = BackendHealth.Healthy,
            };
            for (var r = random.Next(4); r > 0; r--)
            {
                backend.Enter();
            }
            backend.RecordLatency(TimeSpan.FromMicroseconds(500 + random.Next(2_000)));
            backends[i] = backend;
        }
        return backends;
    }
}
