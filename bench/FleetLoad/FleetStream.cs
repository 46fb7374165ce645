using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http;
using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Bench.FleetLoad;

/// <summary>
/// One simulated agent: a sync stream that says Hello, checks each snapshot's hash against its
/// payload (and applies each delta with the agent's code, checking the result's hash), ACKs it with its listeners programmed, sends a periodic full health summary, and
/// reconnects with backoff (resuming from what it has) when refused or cut off, as lb-agent does.
/// </summary>
public sealed class FleetStream(int index, string name, string tier, AgentSync.AgentSyncClient client, Metadata headers, FleetProgress progress, TimeSpan healthInterval, bool acceptsDeltas)
{
    private static readonly ConcurrentDictionary<string, SnapshotData> Decoded = new(StringComparer.Ordinal);

    // Every stream holding the same base gets the same delta: applied and checked once, for the tool's own CPU.
    private static readonly ConcurrentDictionary<(string Base, string Hash), SnapshotData> Applied = new();

    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private long _revision;
    private string _hash = "";
    private string _epoch = "";

    public int Index { get; } = index;

    public string Name { get; } = name;

    /// <summary>The hash received for each revision (only this stream's reader writes it).</summary>
    public ConcurrentDictionary<long, string> Received { get; } = new();

    /// <summary>What went wrong, for the verdict: a hash that does not match its payload, a stream cut off.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Opens refused before a stream was accepted (each retried), by status.</summary>
    public ConcurrentDictionary<string, int> RefusedBy { get; } = new(StringComparer.Ordinal);

    /// <summary>Accepted streams lost (each reconnects and resumes), by status.</summary>
    public ConcurrentDictionary<string, int> LostBy { get; } = new(StringComparer.Ordinal);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!cancellationToken.IsCancellationRequested)
        {
            var accepted = false;
            try
            {
                using var call = client.Sync(headers, cancellationToken: cancellationToken);
                await WriteAsync(call.RequestStream, new AgentMessage
                {
                    Hello = new Hello { Name = Name, Tier = tier, SoftwareVersion = "lb-fleetload", Revision = _revision, SnapshotHash = _hash, Epoch = _epoch, AcceptsDeltas = acceptsDeltas },
                }, cancellationToken).ConfigureAwait(false);
                using var health = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var reporting = healthInterval > TimeSpan.Zero ? ReportHealthAsync(call.RequestStream, health.Token) : Task.CompletedTask;
                try
                {
                    await foreach (var message in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                    {
                        accepted = true;
                        backoff = TimeSpan.FromMilliseconds(100);
                        await HandleAsync(call.RequestStream, message, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    await health.CancelAsync().ConfigureAwait(false);
                    await reporting.ConfigureAwait(false);
                }
                LostBy.AddOrUpdate("ended by the control plane", 1, (_, n) => n + 1);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is RpcException or OperationCanceledException or HttpProtocolException or IOException)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.InvalidArgument)
            {
                // An agent would not get further by retrying either.
                Errors.Enqueue($"{Name}: {ex.Status.StatusCode} {ex.Status.Detail}");
                return;
            }
            catch (Exception ex) when (ex is RpcException or HttpProtocolException or IOException)
            {
                // Refused (rate limit, ENHANCE_YOUR_CALM) or cut off: retried with backoff, as the agent does.
                var reason = ex switch
                {
                    RpcException rpc => rpc.StatusCode.ToString(),
                    HttpProtocolException http => $"HTTP/2 {http.ErrorCode}",
                    _ => "I/O",
                };
                (accepted ? LostBy : RefusedBy).AddOrUpdate(reason, 1, (_, n) => n + 1);
            }
            // Exponential backoff with jitter, as the agent reconnects.
            await Task.Delay(backoff * (0.5 + Random.Shared.NextDouble()), cancellationToken).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    private async Task HandleAsync(IClientStreamWriter<AgentMessage> requests, ControlPlaneMessage message, CancellationToken cancellationToken)
    {
        switch (message.MessageCase)
        {
            case ControlPlaneMessage.MessageOneofCase.Snapshot:
                var snapshot = message.Snapshot;
                var actual = Convert.ToHexStringLower(SHA256.HashData(snapshot.Payload.Span));
                if (actual != snapshot.Hash)
                {
                    // An agent would NACK it; here it is a failed run.
                    Errors.Enqueue($"{Name}: revision {snapshot.Revision} has hash {snapshot.Hash} but its payload hashes to {actual}");
                    return;
                }
                var data = Decoded.GetOrAdd(snapshot.Hash, _ => SnapshotData.Parser.ParseFrom(snapshot.Payload));
                await AckAsync(requests, snapshot.Revision, snapshot.Hash, snapshot.Epoch, data, cancellationToken).ConfigureAwait(false);
                break;
            case ControlPlaneMessage.MessageOneofCase.Delta:
                var delta = message.Delta;
                SnapshotData applied;
                try
                {
                    if (delta.BaseHash != _hash || !Decoded.TryGetValue(_hash, out var current))
                    {
                        throw new LoadBalancer.Agent.Config.DeltaRejectedException("base", $"delta {delta.Revision} is against {delta.BaseHash}, the stream holds {_hash}");
                    }
                    applied = Applied.GetOrAdd((delta.BaseHash, delta.Hash), _ => LoadBalancer.Agent.Config.SnapshotDeltas.Apply(current, _hash, delta).Data);
                }
                catch (LoadBalancer.Agent.Config.DeltaRejectedException ex)
                {
                    // An agent NACKs it and gets the snapshot; here it is also a failed run.
                    Errors.Enqueue($"{Name}: {ex.Message}");
                    await WriteAsync(requests, new AgentMessage { Nack = new Nack { Revision = delta.Revision, SnapshotHash = delta.Hash, Error = ex.Message, WantsSnapshot = true } }, cancellationToken).ConfigureAwait(false);
                    return;
                }
                Decoded.TryAdd(delta.Hash, applied);
                await AckAsync(requests, delta.Revision, delta.Hash, delta.Epoch, applied, cancellationToken).ConfigureAwait(false);
                break;
            case ControlPlaneMessage.MessageOneofCase.Bookmark:
                Received[message.Bookmark.Revision] = message.Bookmark.Hash;
                progress.Acked(this, message.Bookmark.Revision, Stopwatch.GetTimestamp());
                break;
        }
    }

    private async Task AckAsync(IClientStreamWriter<AgentMessage> requests, long revision, string hash, string epoch, SnapshotData data, CancellationToken cancellationToken)
    {
        _revision = revision;
        _hash = hash;
        _epoch = epoch;
        Received[revision] = hash;
        var ack = new Ack { Revision = revision, SnapshotHash = hash };
        ack.Listeners.AddRange(data.Listeners.Select(l => new ListenerResult { Name = l.Name, Programmed = true }));
        await WriteAsync(requests, new AgentMessage { Ack = ack }, cancellationToken).ConfigureAwait(false);
        progress.Acked(this, revision, Stopwatch.GetTimestamp());
    }

    private async Task ReportHealthAsync(IClientStreamWriter<AgentMessage> requests, CancellationToken cancellationToken)
    {
        try
        {
            // Spread over the period, as agents started at different times are.
            await Task.Delay(healthInterval * Random.Shared.NextDouble(), cancellationToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(healthInterval);
            do
            {
                if (!Decoded.TryGetValue(_hash, out var data))
                {
                    continue;
                }
                var report = new HealthReport { Full = true };
                var now = Timestamp.FromDateTime(DateTime.UtcNow);
                report.Backends.AddRange(data.Pools.SelectMany(p => p.Backends.Select(b => new BackendHealthReport { Pool = p.Name, Backend = b.Name, State = "healthy", ObservedAt = now })));
                await WriteAsync(requests, new AgentMessage { Health = report }, cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The stream ended.
        }
        catch (RpcException)
        {
            // The stream ended; the reader reports why.
        }
        catch (InvalidOperationException)
        {
            // Written after the call completed.
        }
    }

    // The reader's ACKs and the health timer share one request stream: one write at a time.
    private async Task WriteAsync(IClientStreamWriter<AgentMessage> requests, AgentMessage message, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await requests.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
