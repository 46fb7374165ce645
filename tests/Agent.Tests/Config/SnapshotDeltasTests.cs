using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Tests.Config;

/// <summary>
/// Applying a delta to the served snapshot: the result is the control plane's snapshot byte for
/// byte, checked by its hash, and a delta that does not apply is refused whole, saying why.
/// </summary>
public sealed class SnapshotDeltasTests
{
    private static SnapshotData Tier(int pools = 3, int backends = 4)
    {
        var data = new SnapshotData { Tier = "edge" };
        data.Listeners.Add(new SnapshotListener { Name = "web", Port = 8080, Protocol = "http", Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "pool-0" } } });
        for (var p = 0; p < pools; p++)
        {
            var pool = new SnapshotPool { Name = $"pool-{p}", Protocol = "http", Algorithm = "weighted-round-robin", DrainTimeoutMs = 30_000, HealthCheck = new SnapshotHealthCheck { Type = "tcp", IntervalMs = 1000 } };
            for (var b = 0; b < backends; b++)
            {
                pool.Backends.Add(new SnapshotBackend { Name = $"b-{p}-{b}", Host = "127.0.0.1", Port = 9000 + b, Weight = 1, State = "enabled" });
            }
            data.Pools.Add(pool);
        }
        data.Certificates.Add(new SnapshotCertificate { Name = "site", CertificatePem = "pem", PrivateKeyPem = "key", FingerprintSha256 = "ab" });
        return data;
    }

    private static string HashOf(SnapshotData data) => Convert.ToHexStringLower(SHA256.HashData(data.ToByteArray()));

    /// <summary>A delta as the control plane writes it, from <paramref name="from"/> to <paramref name="to"/>.</summary>
    private static SnapshotDelta Delta(SnapshotData from, SnapshotData to, Action<SnapshotDelta> content)
    {
        var delta = new SnapshotDelta { BaseRevision = 4, BaseHash = HashOf(from), Revision = 5, Hash = HashOf(to), Epoch = "e1" };
        content(delta);
        return delta;
    }

    [Fact]
    public void Apply_OneBackendWeight_GivesTheControlPlanesSnapshot_AndKeepsUntouchedPoolsAsTheyWere()
    {
        var before = Tier();
        var after = before.Clone();
        after.Pools[1].Backends[2].Weight = 9;
        var delta = Delta(before, after, d => d.UpsertedBackends.Add(new DeltaBackend { Pool = "pool-1", Backend = after.Pools[1].Backends[2] }));

        var (snapshot, data) = SnapshotDeltas.Apply(before, HashOf(before), delta);

        Assert.Equal(after, data);
        Assert.Equal((5L, delta.Hash, "e1"), (snapshot.Revision, snapshot.Hash, snapshot.Epoch));
        Assert.Equal(after.ToByteString(), snapshot.Payload);
        Assert.Same(before.Pools[0], data.Pools[0]);
        Assert.Same(before.Pools[2], data.Pools[2]);
        Assert.Same(before.Listeners[0], data.Listeners[0]);
        Assert.NotSame(before.Pools[1], data.Pools[1]);
        Assert.Equal(1, before.Pools[1].Backends[2].Weight);
    }

    [Fact]
    public void Apply_EveryKindAddedChangedAndRemoved_SortsAsTheControlPlaneDoes()
    {
        var before = Tier();
        var after = Tier(pools: 4);
        after.Pools.RemoveAt(0);
        after.Pools[0].Algorithm = "least-connections";
        after.Pools[0].Backends.RemoveAt(1);
        after.Pools[0].Backends.Insert(0, new SnapshotBackend { Name = "a-new", Host = "127.0.0.2", Port = 1, Weight = 2, State = "draining" });
        after.Listeners[0].Routes[0].Pool = "pool-1";
        after.Listeners.Insert(0, new SnapshotListener { Name = "api", Port = 8081, Protocol = "tcp", Pool = "pool-3" });
        after.Certificates.Clear();
        var delta = Delta(before, after, d =>
        {
            d.UpsertedListeners.Add(after.Listeners);
            d.RemovedPools.Add("pool-0");
            var settings = after.Pools[0].Clone();
            settings.Backends.Clear();
            d.UpsertedPools.Add(settings);
            d.UpsertedBackends.Add(new DeltaBackend { Pool = "pool-1", Backend = after.Pools[0].Backends[0] });
            d.RemovedBackends.Add(new DeltaBackend { Pool = "pool-1", Backend = new SnapshotBackend { Name = "b-1-1" } });
            var added = after.Pools[2].Clone();
            added.Backends.Clear();
            d.UpsertedPools.Add(added);
            d.UpsertedBackends.Add(after.Pools[2].Backends.Select(b => new DeltaBackend { Pool = "pool-3", Backend = b }));
            d.RemovedCertificates.Add("site");
        });

        var (_, data) = SnapshotDeltas.Apply(before, HashOf(before), delta);

        Assert.Equal(after, data);
    }

    [Fact]
    public void Apply_AgainstAnotherBase_IsRefused()
    {
        var before = Tier();
        var delta = Delta(before, before, _ => { });
        delta.BaseHash = new string('0', 64);

        var ex = Assert.Throws<DeltaRejectedException>(() => SnapshotDeltas.Apply(before, HashOf(before), delta));
        Assert.Equal("base", ex.Reason);
        Assert.Contains("is against 000000000000", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("listener")]
    [InlineData("pool")]
    [InlineData("backend")]
    [InlineData("certificate")]
    [InlineData("backends of an unknown pool")]
    public void Apply_RemovingWhatTheAgentDoesNotHave_IsRefused(string kind)
    {
        var before = Tier();
        var delta = Delta(before, before, d =>
        {
            switch (kind)
            {
                case "listener": d.RemovedListeners.Add("ghost"); break;
                case "pool": d.RemovedPools.Add("ghost"); break;
                case "backend": d.RemovedBackends.Add(new DeltaBackend { Pool = "pool-0", Backend = new SnapshotBackend { Name = "ghost" } }); break;
                case "certificate": d.RemovedCertificates.Add("ghost"); break;
                default: d.UpsertedBackends.Add(new DeltaBackend { Pool = "ghost", Backend = new SnapshotBackend { Name = "b", Host = "127.0.0.1", Port = 1 } }); break;
            }
        });

        var ex = Assert.Throws<DeltaRejectedException>(() => SnapshotDeltas.Apply(before, HashOf(before), delta));
        Assert.Equal("missing", ex.Reason);
        Assert.Contains("'ghost'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_ResultNotTheControlPlanesHash_IsRefused_AndTheServedSnapshotIsUntouched()
    {
        var before = Tier();
        var served = before.Clone();
        var after = before.Clone();
        after.Pools[0].Backends[0].Weight = 3;
        // The control plane's hash is for weight 3; the delta (corrupted on the way) says 4.
        var delta = Delta(before, after, d => d.UpsertedBackends.Add(new DeltaBackend { Pool = "pool-0", Backend = new SnapshotBackend(after.Pools[0].Backends[0]) { Weight = 4 } }));

        var ex = Assert.Throws<DeltaRejectedException>(() => SnapshotDeltas.Apply(before, HashOf(before), delta));

        Assert.Equal("hash", ex.Reason);
        Assert.Contains("the control plane has " + delta.Hash[..12], ex.Message, StringComparison.Ordinal);
        Assert.Equal(served, before);
    }

    [Fact]
    public void Map_WithThePreviousSnapshot_ReusesTheConfigOfEveryUnchangedPoolAndListener()
    {
        var before = Tier();
        var previous = SnapshotMapper.Map(4, HashOf(before), before);
        var after = before.Clone();
        after.Pools[2].Backends[0].State = "disabled";
        var delta = Delta(before, after, d => d.UpsertedBackends.Add(new DeltaBackend { Pool = "pool-2", Backend = after.Pools[2].Backends[0] }));
        var (_, data) = SnapshotDeltas.Apply(before, HashOf(before), delta);

        var config = SnapshotMapper.Map(5, delta.Hash, data, before, previous);

        var expected = SnapshotMapper.Map(5, delta.Hash, after);
        Assert.Equal(expected.Pools, config.Pools);
        Assert.Equal(expected.Listeners, config.Listeners);
        Assert.Equal(expected.Certificates, config.Certificates);
        Assert.Same(previous.Pools[0], config.Pools[0]);
        Assert.Same(previous.Pools[1], config.Pools[1]);
        Assert.Same(previous.Listeners[0], config.Listeners[0]);
        Assert.NotSame(previous.Pools[2], config.Pools[2]);
        Assert.Equal("disabled", config.Pools[2].Backends[0].State);
    }
}
