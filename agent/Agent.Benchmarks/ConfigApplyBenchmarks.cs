using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Health;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Api.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoadBalancer.Agent.Benchmarks;

/// <summary>
/// The agent's CPU for one configuration change that moves one backend's weight, from the message
/// on the stream to the pools in force (decode or delta apply, hash check, mapping, pool registry
/// with its health monitor): the whole snapshot as every change was applied before deltas, and the
/// delta. Listeners are left out: an unchanged listener is one record comparison on both paths.
/// Each invocation applies the next of two snapshots that differ in that one weight, so every
/// apply is a real change.
/// </summary>
[MemoryDiagnoser]
public class ConfigApplyBenchmarks
{
    private readonly Snapshot[] _snapshots = new Snapshot[2];
    private readonly SnapshotData[] _data = new SnapshotData[2];
    private readonly SnapshotDelta[] _deltas = new SnapshotDelta[2];
    private PoolRegistry _pools = null!;
    private HealthMonitor _health = null!;
    private int _next;
    private SnapshotData _servedData = null!;
    private TierConfig _served = null!;

    /// <summary>Pools x backends per pool.</summary>
    [Params("50x20", "1x10", "1x10000")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        var (pools, backends) = (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        for (var i = 0; i < 2; i++)
        {
            var data = new SnapshotData { Tier = "edge" };
            var listener = new SnapshotListener { Name = "web", Port = 8080, Protocol = "http" };
            for (var p = 0; p < pools; p++)
            {
                var pool = new SnapshotPool { Name = $"pool-{p:D3}", Protocol = "http", Algorithm = "weighted-round-robin", DrainTimeoutMs = 30_000, ConnectTimeoutMs = 5_000, Retries = 1 };
                for (var b = 0; b < backends; b++)
                {
                    // The changed backend: the middle one of the middle pool, weight 1 or 2.
                    var weight = p == pools / 2 && b == backends / 2 ? 1 + i : 1 + (b % 3);
                    pool.Backends.Add(new SnapshotBackend { Name = $"b-{p:D3}-{b:D5}", Host = "127.0.0.1", Port = 10_000 + b, Weight = weight, State = "enabled" });
                }
                data.Pools.Add(pool);
                listener.Routes.Add(new SnapshotRoute { Hosts = { $"p{p}.example.test" }, PathPrefix = "/", Pool = pool.Name });
            }
            data.Listeners.Add(listener);
            var payload = data.ToByteString();
            _data[i] = data;
            _snapshots[i] = new Snapshot { Revision = 10 + i, Hash = Convert.ToHexStringLower(SHA256.HashData(payload.Span)), Payload = payload };
        }
        for (var i = 0; i < 2; i++)
        {
            var to = _data[1 - i];
            var changed = to.Pools[to.Pools.Count / 2];
            _deltas[i] = new SnapshotDelta
            {
                BaseHash = _snapshots[i].Hash,
                Revision = _snapshots[1 - i].Revision,
                Hash = _snapshots[1 - i].Hash,
                UpsertedBackends = { new DeltaBackend { Pool = changed.Name, Backend = changed.Backends[changed.Backends.Count / 2] } },
            };
        }
        _pools = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        _health = new HealthMonitor(_pools, TimeProvider.System, NullLogger<HealthMonitor>.Instance);
        _servedData = _data[0];
        _served = SnapshotMapper.Decode(_snapshots[0], "edge");
        _pools.Apply(_served.Pools);
        _next = 1;
    }

    [GlobalCleanup]
    public void Cleanup() => _health.Dispose();

    /// <summary>Before deltas: every change decoded, hashed, mapped and compared whole.</summary>
    [Benchmark(Baseline = true)]
    public TierConfig WholeSnapshot()
    {
        var config = SnapshotMapper.Decode(_snapshots[_next], "edge");
        _pools.Apply(config.Pools);
        _next = 1 - _next;
        return config;
    }

    /// <summary>A delta applied to the served snapshot, checked by hash, only the changed pool mapped again.</summary>
    [Benchmark]
    public TierConfig Delta()
    {
        var (_, data) = SnapshotDeltas.Apply(_servedData, _served.Hash, _deltas[1 - _next]);
        var config = SnapshotMapper.Map(_deltas[1 - _next].Revision, _deltas[1 - _next].Hash, data, _servedData, _served);
        _pools.Apply(config.Pools);
        (_servedData, _served) = (data, config);
        _next = 1 - _next;
        return config;
    }
}
