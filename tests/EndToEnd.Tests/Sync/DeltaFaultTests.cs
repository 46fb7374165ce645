using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.LoadBalancing;
using LoadBalancer.EndToEnd.Tests.Stability;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Sync;

/// <summary>
/// Issue 19: a delta that does not apply (against another base, removing what the agent does not
/// have, a result that does not hash to the control plane's hash) is never half-applied: the real
/// lb-agent keeps serving, NACKs saying why and asking for the whole snapshot, counts it, and
/// takes the snapshot that answers it. The real control plane never sends such deltas, so
/// <see cref="ScriptedControlPlane"/> does.
/// </summary>
public sealed class DeltaFaultTests(ITestOutputHelper output)
{
    private const string Epoch = "scripted-epoch";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task DeltasThatDoNotApply_AreNackedAskingForTheSnapshot_NothingChanges_AndTheSnapshotHeals()
    {
        await using var controlPlane = await ScriptedControlPlane.StartAsync();
        await using var oldBackend = await ControlledBackend.StartAsync("old-1");
        await using var newBackend = await ControlledBackend.StartAsync("new-1");
        var root = Path.Combine(Path.GetTempPath(), "lb-e2e-delta-" + Guid.NewGuid().ToString("N")[..10]);
        var adminUrl = $"http://127.0.0.1:{Ports.Free().ToString(CultureInfo.InvariantCulture)}";
        var listenerPort = Ports.Free();
        await using var agent = controlPlane.StartAgent("delta-1", root, adminUrl);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var url = $"http://127.0.0.1:{listenerPort.ToString(CultureInfo.InvariantCulture)}/";
        try
        {
            var hello = (await controlPlane.NextAsync(m => m.Hello is not null, Timeout, "Hello")).Hello;
            Assert.True(hello.AcceptsDeltas);
            var first = Data(listenerPort, ("old-1", oldBackend.Port));
            await controlPlane.SendAsync(Whole(1, first), Timeout);
            await controlPlane.NextAsync(m => m.Ack is { Revision: 1 }, Timeout, "the ACK of revision 1");

            var target = Data(listenerPort, ("new-1", newBackend.Port));
            var switchBackend = (SnapshotDelta d) =>
            {
                d.RemovedBackends.Add(new DeltaBackend { Pool = "web", Backend = new SnapshotBackend { Name = "old-1" } });
                d.UpsertedBackends.Add(new DeltaBackend { Pool = "web", Backend = target.Pools[0].Backends[0] });
            };

            // Against a base the agent does not serve.
            var otherBase = Delta(2, first, target, switchBackend);
            otherBase.BaseHash = new string('0', 64);
            await AssertRefusedAsync(controlPlane, otherBase, "is against 000000000000");
            // Removing a backend the agent does not have.
            await AssertRefusedAsync(controlPlane, Delta(3, first, target, d => d.RemovedBackends.Add(new DeltaBackend { Pool = "web", Backend = new SnapshotBackend { Name = "ghost" } })), "removes backend 'ghost' of pool 'web'");
            // Applied, the result is not what the control plane hashed (here: the new backend's weight differs).
            await AssertRefusedAsync(controlPlane, Delta(4, first, target, d =>
            {
                switchBackend(d);
                d.UpsertedBackends[0] = new DeltaBackend { Pool = "web", Backend = new SnapshotBackend(target.Pools[0].Backends[0]) { Weight = 2 } };
            }), "the control plane has " + Hash(target.ToByteArray())[..12]);

            // Nothing of them was applied: revision 1 serves, and is what the cache holds.
            Assert.StartsWith("old-1 ", await http.GetStringAsync(url), StringComparison.Ordinal);
            var metrics = await MetricsScrape.ReadAsync(http, adminUrl);
            output.WriteLine(string.Join("\n", metrics.Where(m => m.Key.StartsWith("lb_agent_config", StringComparison.Ordinal)).Select(m => $"{m.Key} {m.Value}")));
            Assert.Equal(1, metrics["lb_agent_config_revision"]);
            foreach (var reason in new[] { "base", "missing", "hash" })
            {
                Assert.Equal(1, metrics[$"lb_agent_config_delta_failures_total{{reason=\"{reason}\"}}"]);
            }
            Assert.Equal(1, AgentCache.Read(Path.Combine(root, "cache")).Revision);

            // The whole snapshot the agent asked for heals it; deltas apply again from there.
            await controlPlane.SendAsync(Whole(5, target), Timeout);
            await controlPlane.NextAsync(m => m.Ack is { Revision: 5 }, Timeout, "the ACK of revision 5");
            Assert.StartsWith("new-1 ", await http.GetStringAsync(url), StringComparison.Ordinal);
            var back = Data(listenerPort, ("old-1", oldBackend.Port));
            await controlPlane.SendAsync(new ControlPlaneMessage
            {
                Delta = Delta(6, target, back, d =>
                {
                    d.RemovedBackends.Add(new DeltaBackend { Pool = "web", Backend = new SnapshotBackend { Name = "new-1" } });
                    d.UpsertedBackends.Add(new DeltaBackend { Pool = "web", Backend = back.Pools[0].Backends[0] });
                }),
            }, Timeout);
            var ack = (await controlPlane.NextAsync(m => m.Ack is { Revision: 6 } || m.Nack is not null, Timeout, "the answer to delta 6")).Ack;
            Assert.NotNull(ack);
            Assert.Equal(Hash(back.ToByteArray()), ack.SnapshotHash);
            Assert.StartsWith("old-1 ", await http.GetStringAsync(url), StringComparison.Ordinal);
            var cached = AgentCache.Read(Path.Combine(root, "cache"));
            Assert.Equal((6L, ack.SnapshotHash, Epoch), (cached.Revision, cached.Hash, cached.Epoch));
            Assert.Equal(back, SnapshotData.Parser.ParseFrom(cached.Payload));
            Assert.Equal(1, (await MetricsScrape.ReadAsync(http, adminUrl))["lb_agent_config_deltas_total"]);
        }
        catch
        {
            output.WriteLine(agent.Output);
            throw;
        }
        finally
        {
            await agent.DisposeAsync();
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static async Task AssertRefusedAsync(ScriptedControlPlane controlPlane, SnapshotDelta delta, string reason)
    {
        await controlPlane.SendAsync(new ControlPlaneMessage { Delta = delta }, Timeout);
        var answer = await controlPlane.NextAsync(m => m.Nack is not null || m.Ack is not null && m.Ack.Revision == delta.Revision, Timeout, $"the answer to delta {delta.Revision}");
        Assert.NotNull(answer.Nack);
        Assert.Equal((delta.Revision, delta.Hash, true), (answer.Nack.Revision, answer.Nack.SnapshotHash, answer.Nack.WantsSnapshot));
        Assert.Contains(reason, answer.Nack.Error, StringComparison.Ordinal);
    }

    /// <summary>One HTTP listener routing everything to one pool of these backends.</summary>
    private static SnapshotData Data(int listenerPort, params (string Name, int Port)[] backends)
    {
        var pool = new SnapshotPool { Name = "web", Protocol = "http", Algorithm = "round-robin" };
        pool.Backends.AddRange(backends.Select(b => new SnapshotBackend { Name = b.Name, Host = "127.0.0.1", Port = b.Port, Weight = 1, State = "enabled" }));
        return new SnapshotData
        {
            Tier = "edge",
            Listeners = { new SnapshotListener { Name = "web", Port = listenerPort, Protocol = "http", Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "web" } } } },
            Pools = { pool },
        };
    }

    private static Snapshot Whole(long revision, SnapshotData data)
    {
        var payload = data.ToByteArray();
        return new Snapshot { Revision = revision, Epoch = Epoch, Payload = ByteString.CopyFrom(payload), Hash = Hash(payload) };
    }

    private static SnapshotDelta Delta(long revision, SnapshotData from, SnapshotData to, Action<SnapshotDelta> content)
    {
        var delta = new SnapshotDelta { BaseRevision = revision - 1, BaseHash = Hash(from.ToByteArray()), Revision = revision, Hash = Hash(to.ToByteArray()), Epoch = Epoch };
        content(delta);
        return delta;
    }

    private static string Hash(byte[] payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
