using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Management;

public sealed class ManagementServiceTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync() => _f = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private ServerCallContext Ctx => _f.Context;

    [Fact]
    public async Task List_IsSortedByName_AndFiltersByLabels()
    {
        var b = Pool("b-pool");
        b.Metadata.Labels.Add("team", "red");
        var a = Pool("a-pool");
        a.Metadata.Labels.Add("team", "blue");
        await _f.Service.Apply(new ApplyRequest { Resources = { R(b), R(Pool("c-pool")), R(a) } }, Ctx);

        var all = await _f.Service.ListPools(new ListRequest(), Ctx);
        Assert.Equal(["a-pool", "b-pool", "c-pool"], all.Items.Select(p => p.Metadata.Name));
        Assert.Equal(1, all.Revision);

        var red = await _f.Service.ListPools(new ListRequest { LabelSelector = { ["team"] = "red" } }, Ctx);
        Assert.Equal(["b-pool"], red.Items.Select(p => p.Metadata.Name));
    }

    [Fact]
    public async Task GetPool_FillsBackendCountsAndTiers()
    {
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("web")),
                R(Backend("web-1", "web")),
                R(Backend("web-2", "web", "127.0.0.1:9102", s => s.State = "draining")),
                R(HttpListener("public", "edge", 8080, "web")),
                R(HttpListener("inside", "internal", 8080, "web")),
            },
        }, Ctx);
        var pool = await _f.Service.GetPool(new GetRequest { Name = "WEB" }, Ctx);
        Assert.Equal(2, pool.Status.BackendsTotal);
        Assert.Equal(1, pool.Status.BackendsEnabled);
        Assert.Equal(["edge", "internal"], pool.Status.UsedByTiers);
    }

    [Fact]
    public async Task GetPool_HttpsWithoutVerification_SaysSoInACondition()
    {
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("insecure", "https", s => s.BackendTls = new BackendTls { InsecureSkipVerify = true })),
                R(Pool("verified", "https")),
            },
        }, Ctx);

        var insecure = Assert.Single((await _f.Service.GetPool(new GetRequest { Name = "insecure" }, Ctx)).Status.Conditions);
        Assert.Equal(("BackendTlsVerified", "False", "InsecureSkipVerify"), (insecure.Type, insecure.Status, insecure.Reason));
        var verified = Assert.Single((await _f.Service.GetPool(new GetRequest { Name = "verified" }, Ctx)).Status.Conditions);
        Assert.Equal(("BackendTlsVerified", "True"), (verified.Type, verified.Status));
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("plain")) } }, Ctx);
        Assert.Empty((await _f.Service.GetPool(new GetRequest { Name = "plain" }, Ctx)).Status.Conditions);
    }

    [Fact]
    public async Task GetListener_StatusCountsConnectedAgentsOfItsTier()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("public", "edge", 8080, "web")) } }, Ctx);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 1);
        await _f.AddAgentAsync("edge-2", "edge", connected: true, appliedRevision: 1, new ListenerResultRecord("public", false, "address already in use", 1));
        await _f.AddAgentAsync("edge-3", "edge", connected: false, appliedRevision: 0);
        await _f.AddAgentAsync("data-1", "data", connected: true, appliedRevision: 1);

        var listener = await _f.Service.GetListener(new GetRequest { Name = "public" }, Ctx);
        Assert.Equal(2, listener.Status.AgentsTotal);
        Assert.Equal(1, listener.Status.AgentsProgrammed);
        Assert.Equal(["edge-1", "edge-2"], listener.Status.Agents.Select(a => a.Agent));
        Assert.Equal("address already in use", listener.Status.Agents[1].Reason);
        var accepted = listener.Status.Conditions.Single(c => c.Type == "Accepted");
        Assert.Equal("True", accepted.Status);
        var programmed = listener.Status.Conditions.Single(c => c.Type == "Programmed");
        Assert.Equal(("False", "Failed"), (programmed.Status, programmed.Reason));
        Assert.Contains("address already in use", programmed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetListener_AllAgentsProgrammed_IsProgrammedTrue()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("public", "edge", 8080, "web")) } }, Ctx);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 1, new ListenerResultRecord("public", true, null, 1));
        var listener = await _f.Service.GetListener(new GetRequest { Name = "public" }, Ctx);
        var programmed = listener.Status.Conditions.Single(c => c.Type == "Programmed");
        Assert.Equal("True", programmed.Status);
        Assert.Equal(1, listener.Status.AgentsProgrammed);
    }

    [Fact]
    public async Task GetListener_AgentBehind_IsPending()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("public", "edge", 8080, "web")) } }, Ctx);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 0);
        var listener = await _f.Service.GetListener(new GetRequest { Name = "public" }, Ctx);
        Assert.Equal("Pending", listener.Status.Conditions.Single(c => c.Type == "Programmed").Reason);
    }

    [Fact]
    public async Task GetListener_NoAgents_IsNotProgrammed()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { R(Pool("web")), R(HttpListener("public", "edge", 8080, "web")) } }, Ctx);
        var listener = await _f.Service.GetListener(new GetRequest { Name = "public" }, Ctx);
        Assert.Equal("NoAgents", listener.Status.Conditions.Single(c => c.Type == "Programmed").Reason);
    }

    [Fact]
    public async Task Agents_AreListedAndDeletableOnlyWhenDisconnected()
    {
        await _f.AddAgentAsync("edge-2", "edge", connected: false, appliedRevision: 3);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 3, new ListenerResultRecord("public", false, "port busy", 3));
        await _f.AddAgentAsync("data-1", "data", connected: true, appliedRevision: 3);

        var list = await _f.Service.ListAgents(new ListRequest(), Ctx);
        Assert.Equal(["data-1", "edge-1", "edge-2"], list.Items.Select(a => a.Metadata.Name));
        var edge = await _f.Service.ListAgents(new ListRequest { LabelSelector = { ["tier"] = "edge" } }, Ctx);
        Assert.Equal(["edge-1", "edge-2"], edge.Items.Select(a => a.Metadata.Name));

        var agent = await _f.Service.GetAgent(new GetRequest { Name = "edge-1" }, Ctx);
        Assert.Equal("edge", agent.Spec.Tier);
        Assert.True(agent.Status.Connected);
        Assert.Equal(3, agent.Status.AppliedRevision);
        Assert.Equal("Degraded", agent.Status.Phase);
        Assert.Equal("port busy", agent.Status.Listeners.Single().Reason);

        await RpcAssert.StatusAsync(() => _f.Service.DeleteAgent(new DeleteRequest { Name = "edge-1" }, Ctx), StatusCode.FailedPrecondition);
        await _f.Service.DeleteAgent(new DeleteRequest { Name = "edge-2" }, Ctx);
        await RpcAssert.StatusAsync(() => _f.Service.GetAgent(new GetRequest { Name = "edge-2" }, Ctx), StatusCode.NotFound);
        Assert.Equal(0, await _f.RevisionAsync());
    }

    [Fact]
    public async Task GetStatus_CountsResourcesAndTiers()
    {
        var pem = TestCertificates.Ecdsa("example.com", _f.Clock.GetUtcNow());
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("web")), R(Backend("web-1", "web")), R(Pool("pg", "tcp")),
                R(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem)),
                R(HttpsListener("public", "edge", 8443, "web", "site")),
                R(HttpListener("public-http", "edge", 8080, "web")),
                R(TcpListener("postgres", "data", 5432, "pg")),
            },
        }, Ctx);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 1);
        await _f.AddAgentAsync("edge-2", "edge", connected: false, appliedRevision: 0);
        await _f.AddAgentAsync("spare-1", "spare", connected: true, appliedRevision: 1);
        _f.TierStatus.Tiers["edge"] = (1, "hash-1");

        var status = await _f.Service.GetStatus(new GetStatusRequest(), Ctx);
        Assert.Equal(1, status.Revision);
        Assert.Equal((2, 1, 3, 1), (status.Pools, status.Backends, status.Listeners, status.Certificates));
        Assert.False(string.IsNullOrEmpty(status.Version));
        Assert.Equal(["data", "edge", "spare"], status.Tiers.Select(t => t.Tier));
        var edge = status.Tiers.Single(t => t.Tier == "edge");
        Assert.Equal((2, 1, 2, 1, 1L, "hash-1"), (edge.Listeners, edge.AgentsConnected, edge.AgentsTotal, edge.AgentsInSync, edge.Revision, edge.SnapshotHash));
        var data = status.Tiers.Single(t => t.Tier == "data");
        Assert.Equal((1, 0, 0L, ""), (data.Listeners, data.AgentsTotal, data.Revision, data.SnapshotHash));
    }

    [Fact]
    public async Task GetCertificate_CountsAgentsServingIt()
    {
        var pem = TestCertificates.Ecdsa("example.com", _f.Clock.GetUtcNow());
        await _f.Service.Apply(new ApplyRequest
        {
            Resources = { R(Pool("web")), R(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem)), R(HttpsListener("public", "edge", 8443, "web", "site")) },
        }, Ctx);
        await _f.AddAgentAsync("edge-1", "edge", connected: true, appliedRevision: 1);
        await _f.AddAgentAsync("edge-2", "edge", connected: true, appliedRevision: 0);
        var certificate = await _f.Service.GetCertificate(new GetRequest { Name = "site" }, Ctx);
        Assert.Equal((1, 2), (certificate.Status.AgentsServing, certificate.Status.AgentsTotal));
    }

    [Fact]
    public async Task GetCertificate_AgentWithAFailedListenerUsingIt_IsNotCountedAsServing()
    {
        var pem = TestCertificates.Ecdsa("example.com", _f.Clock.GetUtcNow());
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("web")), R(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem)),
                R(HttpsListener("public", "edge", 8443, "web", "site")), R(HttpListener("plain", "edge", 8080, "web")),
            },
        }, Ctx);
        await _f.AddAgentAsync("edge-ok", "edge", connected: true, appliedRevision: 1);
        await _f.AddAgentAsync("edge-failed", "edge", connected: true, appliedRevision: 1, new ListenerResultRecord("public", false, "certificate cannot be loaded: bad key", 1));
        // A failure of a listener that does not use the certificate says nothing about it.
        await _f.AddAgentAsync("edge-other", "edge", connected: true, appliedRevision: 1, new ListenerResultRecord("plain", false, "port 8080 is already in use", 1));

        var certificate = await _f.Service.GetCertificate(new GetRequest { Name = "site" }, Ctx);

        Assert.Equal((2, 3), (certificate.Status.AgentsServing, certificate.Status.AgentsTotal));
    }

    [Fact]
    public async Task Create_NullResource_IsRejectedWithFieldViolation()
    {
        await RpcAssert.FieldViolationAsync(() => _f.Service.CreatePool(new WritePoolRequest(), Ctx), "pool");
        await RpcAssert.FieldViolationAsync(() => _f.Service.Apply(new ApplyRequest(), Ctx), "resources");
        await RpcAssert.FieldViolationAsync(() => _f.Service.Apply(new ApplyRequest { Resources = { new Resource() } }, Ctx), "resources[0]");
    }
}
