using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Snapshots;

namespace LoadBalancer.ControlPlane.Tests.Snapshots;

/// <summary>The change between two compiled snapshots of a tier, resource by resource.</summary>
public sealed class SnapshotDeltasTests
{
    private static SnapshotData Tier(int pools = 3, int backends = 4)
    {
        var data = new SnapshotData { Tier = "edge" };
        data.Listeners.Add(new SnapshotListener { Name = "web", Port = 8080, Protocol = "http", Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "pool-0" } } });
        for (var p = 0; p < pools; p++)
        {
            var pool = new SnapshotPool { Name = $"pool-{p}", Protocol = "http", Algorithm = "weighted-round-robin", DrainTimeoutMs = 30_000 };
            for (var b = 0; b < backends; b++)
            {
                pool.Backends.Add(new SnapshotBackend { Name = $"b-{p}-{b}", Host = "127.0.0.1", Port = 9000 + b, Weight = 1, State = "enabled" });
            }
            data.Pools.Add(pool);
        }
        data.Certificates.Add(new SnapshotCertificate { Name = "site", CertificatePem = "pem", PrivateKeyPem = "key", FingerprintSha256 = "ab" });
        return data;
    }

    [Fact]
    public void Compute_OneBackendWeightChanged_CarriesThatBackendAlone()
    {
        var before = Tier();
        var after = before.Clone();
        after.Pools[1].Backends[2].Weight = 7;

        var delta = SnapshotDeltas.Compute(before, after);

        var upserted = Assert.Single(delta.UpsertedBackends);
        Assert.Equal("pool-1", upserted.Pool);
        Assert.Equal(after.Pools[1].Backends[2], upserted.Backend);
        Assert.Empty(delta.UpsertedPools);
        Assert.Empty(delta.RemovedBackends);
        Assert.Empty(delta.UpsertedListeners);
        Assert.Empty(delta.UpsertedCertificates);
        Assert.True(delta.CalculateSize() < 100, $"{delta.CalculateSize()} bytes for one backend");
    }

    [Fact]
    public void Compute_SameSnapshot_IsEmpty()
    {
        var delta = SnapshotDeltas.Compute(Tier(), Tier());
        Assert.Equal(new SnapshotDelta(), delta);
    }

    [Fact]
    public void Compute_PoolSettingsChanged_UpsertsThePoolWithoutItsBackends()
    {
        var before = Tier();
        var after = before.Clone();
        after.Pools[0].Algorithm = "least-connections";

        var delta = SnapshotDeltas.Compute(before, after);

        var pool = Assert.Single(delta.UpsertedPools);
        Assert.Equal("pool-0", pool.Name);
        Assert.Equal("least-connections", pool.Algorithm);
        Assert.Empty(pool.Backends);
        Assert.Empty(delta.UpsertedBackends);
    }

    [Fact]
    public void Compute_NewPool_ArrivesAsSettingsPlusEveryBackend_AndARemovedPoolByName()
    {
        var before = Tier(pools: 2);
        var after = Tier(pools: 3);
        after.Pools.RemoveAt(0);

        var delta = SnapshotDeltas.Compute(before, after);

        Assert.Equal(["pool-2"], delta.UpsertedPools.Select(p => p.Name));
        Assert.Equal(4, delta.UpsertedBackends.Count);
        Assert.All(delta.UpsertedBackends, b => Assert.Equal("pool-2", b.Pool));
        Assert.Equal(["pool-0"], delta.RemovedPools);
        // A removed pool's backends go with it: they are not listed one by one.
        Assert.Empty(delta.RemovedBackends);
    }

    [Fact]
    public void Compute_BackendRemovedAndAdded_NamesTheRemovedOneOnly_AndCarriesTheNewOneWhole()
    {
        var before = Tier();
        var after = before.Clone();
        after.Pools[2].Backends.RemoveAt(0);
        after.Pools[2].Backends.Add(new SnapshotBackend { Name = "b-2-9", Host = "127.0.0.2", Port = 9009, Weight = 2, State = "draining" });

        var delta = SnapshotDeltas.Compute(before, after);

        var removed = Assert.Single(delta.RemovedBackends);
        Assert.Equal(("pool-2", "b-2-0"), (removed.Pool, removed.Backend.Name));
        Assert.Equal(new SnapshotBackend { Name = "b-2-0" }, removed.Backend);
        var added = Assert.Single(delta.UpsertedBackends);
        Assert.Equal("b-2-9", added.Backend.Name);
        Assert.Equal("draining", added.Backend.State);
    }

    [Fact]
    public void Compute_ListenerAndCertificateChanges_AreWholeResources()
    {
        var before = Tier();
        var after = before.Clone();
        after.Listeners[0].Port = 8081;
        after.Listeners.Add(new SnapshotListener { Name = "tcp", Port = 5432, Protocol = "tcp", Pool = "pool-1" });
        after.Certificates[0].PrivateKeyPem = "rotated";
        var removedCertificate = before.Clone();
        removedCertificate.Certificates.Clear();

        var delta = SnapshotDeltas.Compute(before, after);

        Assert.Equal(after.Listeners, delta.UpsertedListeners);
        Assert.Equal(after.Certificates, delta.UpsertedCertificates);
        Assert.Equal(["site"], SnapshotDeltas.Compute(before, removedCertificate).RemovedCertificates);
        Assert.Equal(["tcp"], SnapshotDeltas.Compute(after, before).RemovedListeners);
    }

    [Fact]
    public void Compute_OneBackendOfTenThousand_IsSmall()
    {
        var before = Tier(pools: 1, backends: 10_000);
        var after = before.Clone();
        after.Pools[0].Backends[5_000].State = "disabled";

        var delta = SnapshotDeltas.Compute(before, after);

        Assert.Single(delta.UpsertedBackends);
        Assert.True(delta.CalculateSize() * 1000 < after.ToByteString().Length, $"delta {delta.CalculateSize()} B, snapshot {after.ToByteString().Length} B");
    }

    [Fact]
    public void Compute_OtherTier_IsRefused()
    {
        var other = Tier();
        other.Tier = "data";
        Assert.Throws<ArgumentException>(() => SnapshotDeltas.Compute(Tier(), other));
    }
}
