using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Events;

/// <summary>What the store's results tell: certificate rotations, and which backends drain on which tiers.</summary>
public sealed class StoreEventSourceTests : IAsyncLifetime
{
    private StoreFixture _store = null!;
    private EventRecorder _recorder = null!;
    private readonly DrainTracker _drains = new();

    public async Task InitializeAsync()
    {
        _store = await StoreFixture.CreateAsync();
        _recorder = new EventRecorder(_store.Events, new EventFeed(), new EventOptions(), _store.Clock, NullLogger<EventRecorder>.Instance);
    }

    public async Task DisposeAsync()
    {
        _recorder.Dispose();
        await _store.DisposeAsync();
    }

    private StoreEventSource Source() => new(_store.Reader, _store.Events, _store.Feed, _recorder, _drains, NullLogger<StoreEventSource>.Instance);

    private Task<List<EventEntity>> EventsAsync() => _store.WithDbAsync(db => db.Events.AsNoTracking().OrderBy(e => e.Id).ToListAsync());

    private async Task<string> FingerprintAsync(string name) =>
        await _store.WithDbAsync(db => db.Certificates.Where(c => c.Name == name).Select(c => c.FingerprintSha256).SingleAsync());

    [Fact]
    public async Task ChangedFingerprint_IsCertificateRotated_NamingOldAndNew_WhileANewCertificateIsNot()
    {
        var now = _store.Clock.Now;
        var first = TestCertificates.Ecdsa("shop.example.test", now);
        await _store.Store.ApplyAsync([R(Certificate("shop", first.CertificatePem, first.PrivateKeyPem))], false, Caller.System);
        using var source = Source();
        Assert.True(await source.ObserveAsync(CancellationToken.None));
        var old = await FingerprintAsync("shop");

        var second = TestCertificates.Ecdsa("shop.example.test", now);
        var other = TestCertificates.Ecdsa("api.example.test", now);
        await _store.Store.ApplyAsync(
            [R(Certificate("shop", second.CertificatePem, second.PrivateKeyPem)), R(Certificate("api", other.CertificatePem, other.PrivateKeyPem))],
            false, Caller.System);
        Assert.True(await source.ObserveAsync(CancellationToken.None));

        var rotated = Assert.Single(await EventsAsync());
        Assert.Equal((EventTypes.Normal, EventReasons.CertificateRotated, EventKinds.Certificate, "shop", ""), (rotated.Type, rotated.Reason, rotated.Kind, rotated.Name, rotated.Agent));
        Assert.Contains($"fingerprint {old[..12]} -> {(await FingerprintAsync("shop"))[..12]}", rotated.Message, StringComparison.Ordinal);

        // A label change keeps the fingerprint: no rotation.
        var relabelled = Certificate("shop", second.CertificatePem, "");
        relabelled.Metadata.Labels["team"] = "web";
        await _store.Store.ApplyAsync([R(relabelled)], false, Caller.System);
        Assert.True(await source.ObserveAsync(CancellationToken.None));
        Assert.Single(await EventsAsync());
    }

    [Fact]
    public async Task DrainingBackend_IsTracked_WithTheTiersThatRouteToItsPool()
    {
        await _store.Store.ApplyAsync(
            [
                R(Pool("web")),
                R(Backend("web-1", "web", "127.0.0.1:9101", s => s.State = "draining")),
                R(Backend("web-2", "web", "127.0.0.1:9102")),
                R(HttpListener("public", "edge", 8080, "web")),
                R(HttpListener("inside", "internal", 8081, "web")),
            ],
            false, Caller.System);
        using var source = Source();
        Assert.True(await source.ObserveAsync(CancellationToken.None));

        Assert.True(_drains.IsTracking("web-1"));
        Assert.False(_drains.IsTracking("web-2"));
        var revision = await _store.RevisionAsync();
        var report = new HealthReport { Full = true, Backends = { new BackendHealthReport { Pool = "web", Backend = "web-1", InFlight = 0 } } };
        IReadOnlyCollection<string> Connected(string tier) => tier == "edge" ? ["edge-1"] : ["int-a"];
        Assert.Empty(_drains.Observe("edge-1", "edge", revision, report, Connected));
        var finished = Assert.Single(_drains.Observe("int-a", "internal", revision, report, Connected));
        Assert.Equal("Nothing in flight on the 2 agent(s) of tier edge, internal (pool web)", finished.Message);
    }

    [Fact]
    public async Task AfterARestart_ADrainAlreadyReported_IsNotReportedAgain()
    {
        await _store.Store.ApplyAsync(
            [R(Pool("web")), R(Backend("web-1", "web", "127.0.0.1:9101", s => s.State = "draining")), R(HttpListener("public", "edge", 8080, "web"))],
            false, Caller.System);
        _store.Clock.Now = _store.Clock.Now.AddSeconds(5);
        await _recorder.RecordAsync(EventDraft.Normal(EventReasons.DrainFinished, EventKinds.Backend, "web-1", "", "Nothing in flight"));

        using var source = Source();
        Assert.True(await source.ObserveAsync(CancellationToken.None));

        var report = new HealthReport { Full = true, Backends = { new BackendHealthReport { Pool = "web", Backend = "web-1", InFlight = 0 } } };
        Assert.Empty(_drains.Observe("edge-1", "edge", await _store.RevisionAsync(), report, _ => ["edge-1"]));
    }
}
