using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Bench.FleetLoad;

/// <summary>
/// One measurement: a pool of two backends behind one listener of the tier, N streams, then
/// one-backend weight changes through the management API, each waited for on every stream.
/// </summary>
public sealed class FleetRun(FleetOptions options, ControlPlaneTarget target, TextWriter output)
{
    private const int WarmUpChanges = 2;

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];
    private readonly List<string> _errors = [];

    public async Task<FleetReport> RunAsync(CancellationToken cancellationToken)
    {
        using var adminChannel = target.CreateChannel(counted: false);
        var management = new Management.ManagementClient(adminChannel);
        var admin = target.AdminHeaders();
        // One token shared by the whole tier, as deployed.
        var headers = await CreateAgentTokenAsync(new Access.AccessClient(adminChannel), admin, cancellationToken).ConfigureAwait(false);
        var backend = await CreateResourcesAsync(management, admin, cancellationToken).ConfigureAwait(false);
        var report = new FleetReport { Streams = options.Streams, Deltas = options.Deltas, Backends = options.Backends, Changes = options.Changes, StreamsPerConnection = options.StreamsPerConnection };

        // Streams
        var progress = new FleetProgress(options.Streams);
        var channels = Enumerable.Range(0, (options.Streams + options.StreamsPerConnection - 1) / options.StreamsPerConnection).Select(_ => target.CreateChannel(counted: true)).ToList();
        var streams = Enumerable.Range(0, options.Streams)
            .Select(i => new FleetStream(i, $"fleet-{_suffix}-{i:D5}", options.Tier, new AgentSync.AgentSyncClient(channels[i / options.StreamsPerConnection]), headers, progress, options.HealthInterval, options.Deltas))
            .ToList();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var rssBefore = target.RssBytes();
        output.WriteLine($"opening {options.Streams} streams on {channels.Count} connections ...");
        var opened = Stopwatch.GetTimestamp();
        var running = streams.Select(s => Task.Run(() => s.RunAsync(stop.Token), CancellationToken.None)).ToList();
        try
        {
            await progress.AllConfigured.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken).ConfigureAwait(false);
            report.FirstSnapshotAll = Stopwatch.GetElapsedTime(opened, progress.FirstConfiguredAt.Max());
            report.Refusals = Tally(streams.Select(s => s.RefusedBy));
            report.RssPerStream = (double)(target.RssBytes() - rssBefore) / options.Streams;

            // Unmeasured changes first: the control plane's first pushes pay for JIT compilation.
            output.WriteLine($"all configured in {report.FirstSnapshotAll.TotalSeconds:0.00} s; {WarmUpChanges} warm-up changes, then {options.Changes} measured ...");
            backend = await ChangeAsync(management, admin, backend, streams, progress, WarmUpChanges, null, cancellationToken).ConfigureAwait(false);
            await ChangeAsync(management, admin, backend, streams, progress, options.Changes, report, cancellationToken).ConfigureAwait(false);
            await CheckStatusAsync(management, admin, streams, report, cancellationToken).ConfigureAwait(false);

            // Afterwards, when the control plane has settled: keep-alives and health summaries only.
            output.WriteLine($"{options.IdleWindow.TotalSeconds:0} s idle ...");
            var idleCpu = target.CpuTime();
            var idleStart = Stopwatch.GetTimestamp();
            await Task.Delay(options.IdleWindow, cancellationToken).ConfigureAwait(false);
            report.IdleCpuPerSecond = (target.CpuTime() - idleCpu) / Math.Max(0.001, Stopwatch.GetElapsedTime(idleStart).TotalSeconds);
            report.CpuPerChangeNet = (report.ChangesCpu - report.IdleCpuPerSecond * report.ChangesElapsed.TotalSeconds) / options.Changes;
        }
        catch (TimeoutException ex)
        {
            _errors.Add(ex.Message);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
            channels.ForEach(c => c.Dispose());
        }
        report.Lost = Tally(streams.Select(s => s.LostBy));
        _errors.AddRange(streams.SelectMany(s => s.Errors).Take(20));
        report.Errors = _errors;
        return report;
    }

    private async Task<Metadata> CreateAgentTokenAsync(Access.AccessClient access, Metadata admin, CancellationToken cancellationToken)
    {
        var token = await access.CreateTokenAsync(new CreateTokenRequest { Role = "agent", Tier = options.Tier, Description = "lb-fleetload " + _suffix }, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new Metadata { { "authorization", "Bearer " + token.Secret } };
    }

    private static Dictionary<string, int> Tally(IEnumerable<IReadOnlyDictionary<string, int>> counts) =>
        counts.SelectMany(c => c).GroupBy(c => c.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(c => c.Value), StringComparer.Ordinal);

    /// <summary>A pool of --backends backends (two by default) and a listener of the tier routing to it.</summary>
    private async Task<Backend> CreateResourcesAsync(Management.ManagementClient management, Metadata admin, CancellationToken cancellationToken)
    {
        var pool = $"fleet-{_suffix}";
        await management.CreatePoolAsync(new WritePoolRequest { Pool = new Pool { Metadata = new ObjectMeta { Name = pool }, Spec = new PoolSpec { Protocol = "http", Algorithm = "weighted-round-robin" } } }, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
        // In applies of up to 1,000: a 10,000-backend pool is set up in seconds, not one write per backend.
        foreach (var chunk in Enumerable.Range(1, options.Backends).Chunk(1_000))
        {
            var apply = new ApplyRequest();
            apply.Resources.AddRange(chunk.Select(i => new Resource
            {
                Backend = new Backend { Metadata = new ObjectMeta { Name = $"{pool}-b{i}" }, Spec = new BackendSpec { Pool = pool, Address = $"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}:8080", Weight = 1 } },
            }));
            await management.ApplyAsync(apply, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        var first = await management.GetBackendAsync(new GetRequest { Name = $"{pool}-b1" }, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
        var listener = new Listener { Metadata = new ObjectMeta { Name = pool }, Spec = new ListenerSpec { Tier = options.Tier, Port = 20_000 + Random.Shared.Next(10_000), Protocol = "http" } };
        listener.Spec.Routes.Add(new Route { PathPrefix = "/", Pool = pool });
        await management.CreateListenerAsync(new WriteListenerRequest { Listener = listener }, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
        return first;
    }

    /// <summary>Makes <paramref name="changes"/> changes one after the other, each waited for on every stream; measured into <paramref name="report"/> if given.</summary>
    private async Task<Backend> ChangeAsync(Management.ManagementClient management, Metadata admin, Backend backend, List<FleetStream> streams, FleetProgress progress, int changes, FleetReport? report, CancellationToken cancellationToken)
    {
        var lastRevision = streams.Max(s => s.Received.Keys.DefaultIfEmpty(0).Max());
        var cpuBefore = target.CpuTime();
        var bytesBefore = (target.BytesReceived, target.BytesSent);
        var started = Stopwatch.GetTimestamp();
        var perAgent = new List<double>();
        var allAcked = new List<double>();
        for (var change = 1; change <= changes; change++)
        {
            var watch = progress.Watch(lastRevision);
            // 2..10, never the weight it has: every change changes the tier's snapshot.
            backend.Spec.Weight = backend.Spec.Weight % 9 + 2;
            backend = await management.UpdateBackendAsync(new WriteBackendRequest { Backend = backend }, admin, cancellationToken: cancellationToken).ConfigureAwait(false);
            var answered = Stopwatch.GetTimestamp();
            var revision = backend.Metadata.ResourceVersion;
            await watch.Done.Task.WaitAsync(options.ChangeTimeout, cancellationToken).ConfigureAwait(false);
            var latencies = watch.At.Select(at => Math.Max(0, Stopwatch.GetElapsedTime(answered, at).TotalMilliseconds)).ToList();
            perAgent.AddRange(latencies);
            allAcked.Add(latencies.Max());
            VerifyRevision(streams, revision);
            lastRevision = revision;
        }
        if (report is null)
        {
            return backend;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        var cpu = target.CpuTime() - cpuBefore;
        report.ChangesCpu = cpu;
        report.ChangesElapsed = elapsed;
        report.CpuPerChange = cpu / options.Changes;
        report.BytesReceivedPerAgentPerChange = (double)(target.BytesReceived - bytesBefore.BytesReceived) / options.Streams / options.Changes;
        report.BytesSentPerAgentPerChange = (double)(target.BytesSent - bytesBefore.BytesSent) / options.Streams / options.Changes;
        report.PerAgentAckMs = perAgent;
        report.AllAckedMs = allAcked;
        report.LastRevision = lastRevision;
        return backend;
    }

    /// <summary>Every stream has this revision, all with one hash (each already checked against its payload).</summary>
    private void VerifyRevision(List<FleetStream> streams, long revision)
    {
        var missing = streams.Where(s => !s.Received.ContainsKey(revision)).Select(s => s.Name).ToList();
        if (missing.Count > 0)
        {
            _errors.Add($"revision {revision} did not reach {missing.Count} streams, e.g. {missing[0]} (it has {string.Join(", ", streams.First(s => s.Name == missing[0]).Received.Keys.Order())})");
            return;
        }
        var hashes = streams.Select(s => s.Received[revision]).Distinct(StringComparer.Ordinal).ToList();
        if (hashes.Count != 1)
        {
            _errors.Add($"revision {revision} arrived with {hashes.Count} different hashes");
        }
    }

    /// <summary>
    /// The control plane's own view agrees: the tier's revision and hash are what every stream
    /// has, and it counts every stream connected and in sync (ACKs recorded).
    /// </summary>
    private async Task CheckStatusAsync(Management.ManagementClient management, Metadata admin, List<FleetStream> streams, FleetReport report, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        TierStatus? tier = null;
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            var status = await management.GetStatusAsync(new GetStatusRequest(), admin, cancellationToken: cancellationToken).ConfigureAwait(false);
            tier = status.Tiers.FirstOrDefault(t => t.Tier == options.Tier);
            if (tier is not null && tier.AgentsInSync >= options.Streams && tier.AgentsConnected >= options.Streams)
            {
                break;
            }
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        report.StatusInSync = Stopwatch.GetElapsedTime(started);
        if (tier is null || tier.AgentsInSync < options.Streams || tier.AgentsConnected < options.Streams)
        {
            _errors.Add($"the control plane's status shows {tier?.AgentsConnected ?? 0} connected and {tier?.AgentsInSync ?? 0} in sync of {options.Streams} after 30 s");
            return;
        }
        if (tier.Revision != report.LastRevision || streams.Any(s => !s.Received.TryGetValue(tier.Revision, out var hash) || hash != tier.SnapshotHash))
        {
            _errors.Add($"the control plane's tier is at revision {tier.Revision} ({tier.SnapshotHash}), not what the streams have (last revision {report.LastRevision})");
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"status: {tier.AgentsInSync}/{options.Streams} in sync at revision {tier.Revision}"));
    }
}
