using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.LoadBalancing;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Stability;

/// <summary>
/// Issue 8: a snapshot that cannot be decoded at all is NACKed whole and the previous one keeps
/// serving. The real lb-agent runs against <see cref="ScriptedControlPlane"/>, since the real
/// control plane never sends such a snapshot.
/// </summary>
public sealed class UndecodableSnapshotTests(ITestOutputHelper output)
{
    private const string Epoch = "scripted-epoch";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task UndecodableSnapshot_IsNackedWhole_AndThePreviousOneKeepsServing()
    {
        await using var controlPlane = await ScriptedControlPlane.StartAsync();
        await using var backend = await ControlledBackend.StartAsync("old-1");
        var root = Path.Combine(Path.GetTempPath(), "lb-e2e-nack-" + Guid.NewGuid().ToString("N")[..10]);
        var adminUrl = $"http://127.0.0.1:{Ports.Free().ToString(CultureInfo.InvariantCulture)}";
        var listenerPort = Ports.Free();
        await using var agent = controlPlane.StartAgent("nack-1", root, adminUrl);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var url = $"http://127.0.0.1:{listenerPort.ToString(CultureInfo.InvariantCulture)}/";
        try
        {
            var good = Valid(1, listenerPort, backend.Port);
            await controlPlane.SendAsync(good, Timeout);
            await controlPlane.NextAsync(m => m.Ack is { Revision: 1 }, Timeout, "the ACK of revision 1");
            Assert.StartsWith("old-1 ", await http.GetStringAsync(url), StringComparison.Ordinal);

            // Revision 2: bytes that are not a SnapshotData (a field claiming more bytes than
            // follow), under a hash that matches them, so only decoding can refuse it.
            byte[] garbage = [0x12, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x02];
            await controlPlane.SendAsync(new Snapshot { Revision = 2, Epoch = Epoch, Payload = ByteString.CopyFrom(garbage), Hash = Hash(garbage) }, Timeout);
            var undecodable = (await controlPlane.NextAsync(m => m.Nack is not null || m.Ack is { Revision: 2 }, Timeout, "the answer to revision 2")).Nack;
            Assert.NotNull(undecodable);
            Assert.Equal(2, undecodable.Revision);
            Assert.Contains("cannot be decoded", undecodable.Error, StringComparison.Ordinal);

            // Revision 3: a valid payload that would move the listener to another port, under a
            // hash that does not match it: refused whole, none of it applied.
            var tampered = Valid(3, Ports.Free(), backend.Port);
            tampered.Hash = Hash([0x00]);
            await controlPlane.SendAsync(tampered, Timeout);
            var mismatched = (await controlPlane.NextAsync(m => m.Nack is not null || m.Ack is { Revision: 3 }, Timeout, "the answer to revision 3")).Nack;
            Assert.NotNull(mismatched);
            Assert.Equal(3, mismatched.Revision);
            Assert.Contains("does not match", mismatched.Error, StringComparison.Ordinal);

            // Revision 1 still serves, and is still the revision the agent reports.
            Assert.StartsWith("old-1 ", await http.GetStringAsync(url), StringComparison.Ordinal);
            var metrics = await MetricsScrape.ReadAsync(http, adminUrl);
            output.WriteLine($"lb_agent_config_revision {metrics["lb_agent_config_revision"]}, lb_agent_snapshot_nacks_total {metrics["lb_agent_snapshot_nacks_total"]}");
            Assert.Equal(1, metrics["lb_agent_config_revision"]);
            Assert.Equal(2, metrics["lb_agent_snapshot_nacks_total"]);
            // Nor did a refused snapshot reach the last-known-good cache a restart would serve.
            var cached = AgentCache.Read(Path.Combine(root, "cache"));
            Assert.Equal(1, cached.Revision);

            // The stream survived the NACKs: the next valid revision is applied and ACKed.
            await controlPlane.SendAsync(Valid(4, listenerPort, backend.Port), Timeout);
            await controlPlane.NextAsync(m => m.Ack is { Revision: 4 }, Timeout, "the ACK of revision 4");
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

    /// <summary>One HTTP listener routing everything to one backend, encoded and hashed as the control plane does.</summary>
    private static Snapshot Valid(long revision, int listenerPort, int backendPort)
    {
        var data = new SnapshotData
        {
            Tier = "edge",
            Listeners = { new SnapshotListener { Name = "web", Port = listenerPort, Protocol = "http", Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "web" } } } },
            Pools = { new SnapshotPool { Name = "web", Protocol = "http", Algorithm = "round-robin", Backends = { new SnapshotBackend { Name = "old-1", Host = "127.0.0.1", Port = backendPort, Weight = 1, State = "enabled" } } } },
        };
        var payload = data.ToByteArray();
        return new Snapshot { Revision = revision, Epoch = Epoch, Payload = ByteString.CopyFrom(payload), Hash = Hash(payload) };
    }

    private static string Hash(byte[] payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
