using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Health;

/// <summary>One backend's health as this agent sees it, and why.</summary>
public sealed record HealthObservation(string Pool, string Backend, BackendHealth State, string Reason, DateTime Since, long InFlight);

/// <summary>
/// Active and passive health checking. Active: one probe loop per backend of a pool with a
/// health check, spread out with jitter; healthyThreshold consecutive passes make a backend
/// healthy, unhealthyThreshold consecutive failures unhealthy (a new backend needs one pass,
/// as in Envoy, so that it takes traffic without waiting several intervals). Passive:
/// consecutiveFailures connection errors or 5xx responses eject a backend for ejectionTime, or
/// until an active check passes (Envoy's default; keepEjectionOnActivePass keeps it out for the
/// whole ejectionTime). Transitions are queued for the control plane.
/// </summary>
public sealed partial class HealthMonitor : IDisposable
{
    private readonly ConcurrentDictionary<BackendState, Tracker> _trackers = new(ReferenceEqualityComparer.Instance);
    private readonly Channel<HealthObservation> _transitions = Channel.CreateUnbounded<HealthObservation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly PoolRegistry _pools;
    private readonly TimeProvider _time;
    private readonly ILogger<HealthMonitor> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _gate = new();

    // The pool runtimes the trackers were last set up from.
    private HashSet<PoolRuntime> _watched = new(ReferenceEqualityComparer.Instance);

    public HealthMonitor(PoolRegistry pools, TimeProvider time, ILogger<HealthMonitor> logger)
    {
        _pools = pools;
        _time = time;
        _logger = logger;
        pools.PoolsChanged += OnPoolsChanged;
    }

    /// <summary>Health transitions, in order, for the reporter.</summary>
    public ChannelReader<HealthObservation> Transitions => _transitions.Reader;

    /// <summary>Every backend this agent currently watches.</summary>
    public IReadOnlyList<HealthObservation> Summary() =>
        _trackers.Values.Select(t => t.Observe()).OrderBy(o => o.Pool, StringComparer.Ordinal).ThenBy(o => o.Backend, StringComparer.Ordinal).ToList();

    /// <summary>The backends being drained, whose in-flight counts operators watch go down.</summary>
    public IReadOnlyList<HealthObservation> Draining() =>
        _trackers.Where(t => t.Key.AdminState == BackendAdminState.Draining).Select(t => t.Value.Observe()).ToList();

    public HealthObservation? Find(BackendState backend) => _trackers.TryGetValue(backend, out var tracker) ? tracker.Observe() : null;

    private void OnPoolsChanged(IReadOnlyCollection<PoolRuntime> pools)
    {
        lock (_gate)
        {
            // A pool whose runtime object is the one seen last time did not change (the registry
            // keeps it whole): its trackers stay as they are, so a one-backend change costs the
            // rebuilt pool's backends, not every backend of the agent.
            var current = new HashSet<PoolRuntime>(pools, ReferenceEqualityComparer.Instance);
            var kept = new HashSet<BackendState>(ReferenceEqualityComparer.Instance);
            foreach (var pool in pools)
            {
                if (_watched.Contains(pool))
                {
                    continue;
                }
                foreach (var backend in pool.Backends)
                {
                    kept.Add(backend);
                    if (_trackers.TryGetValue(backend, out var tracker))
                    {
                        tracker.Reconfigure(pool);
                    }
                    else
                    {
                        tracker = new Tracker(this, backend, pool);
                        _trackers[backend] = tracker;
                    }
                }
            }
            // A backend state belongs to one pool; a rebuilt pool carries over the states of the
            // backends it keeps, so what a replaced or removed runtime held and no new one holds is gone.
            foreach (var pool in _watched)
            {
                if (current.Contains(pool))
                {
                    continue;
                }
                foreach (var backend in pool.Backends)
                {
                    if (!kept.Contains(backend) && _trackers.TryRemove(backend, out var tracker))
                    {
                        tracker.Stop();
                    }
                }
            }
            _watched = current;
            foreach (var pool in pools)
            {
                CompleteWarmingIfKnown(pool);
            }
        }
    }

    /// <summary>
    /// How long a new pool waits at most for its backends' first results: the window its first
    /// probes are spread over plus one probe timeout (and a little slack), never over 5 seconds.
    /// </summary>
    internal static TimeSpan WarmingBound(HealthCheckConfig check, int backendsInPool)
    {
        var bound = FirstProbeWindow(check.Interval, backendsInPool) + check.Timeout + TimeSpan.FromMilliseconds(250);
        return bound < MaxWarming ? bound : MaxWarming;
    }

    private static readonly TimeSpan MaxWarming = TimeSpan.FromSeconds(5);

    /// <summary>A warming pool is warm once none of its backends is still without a first result.</summary>
    private void CompleteWarmingIfKnown(PoolRuntime? pool)
    {
        if (pool is null || pool.Warming.IsWarm)
        {
            return;
        }
        foreach (var backend in pool.Backends)
        {
            if (backend.Health == BackendHealth.Unknown)
            {
                return;
            }
        }
        pool.Warming.Complete();
    }

    /// <summary>The proxy's view of one forwarded request or connection attempt (passive checks).</summary>
    public void ReportPassive(BackendState backend, bool success, string? failureReason = null)
    {
        if (_trackers.TryGetValue(backend, out var tracker))
        {
            tracker.OnPassive(success, failureReason);
        }
    }

    private void Publish(HealthObservation observation, BackendHealth previous)
    {
        _transitions.Writer.TryWrite(observation);
        if (observation.State == BackendHealth.Unhealthy)
        {
            Log.BecameUnhealthy(_logger, observation.Pool, observation.Backend, observation.Reason);
        }
        else if (observation.State == BackendHealth.Healthy && previous != BackendHealth.Unknown)
        {
            Log.BecameHealthy(_logger, observation.Pool, observation.Backend);
        }
    }

    public void Dispose()
    {
        _pools.PoolsChanged -= OnPoolsChanged;
        _stopping.Cancel();
        foreach (var tracker in _trackers.Values)
        {
            tracker.Stop();
        }
        _stopping.Dispose();
    }

    /// <summary>
    /// How long the first probes of a pool's backends are spread over: 500 ms, so that a new
    /// backend is checked (and can take traffic) quickly, widened by 5 ms per backend so that a
    /// large pool appearing at once (an agent starting) is probed at no more than about 200 per
    /// second, and never more than one interval. The per-interval jitter then keeps them apart.
    /// </summary>
    internal static TimeSpan FirstProbeWindow(TimeSpan interval, int backendsInPool)
    {
        var window = TimeSpan.FromMilliseconds(Math.Max(500, 5.0 * backendsInPool));
        return window < interval ? window : interval;
    }

    /// <summary>Health state machine and probe loop of one backend.</summary>
    private sealed class Tracker
    {
        private readonly HealthMonitor _owner;
        private readonly BackendState _backend;
        private readonly object _gate = new();
        private PoolConfig _pool;
        private HttpMessageInvoker? _http;
        private CancellationTokenSource? _probeLoop;
        private BackendHealth _active;
        private int _passes;
        private int _failures;
        private int _passiveFailures;
        private long _ejectedUntil;
        private Timer? _ejectionTimer;
        private string _reason = string.Empty;
        private DateTime _since;

        public Tracker(HealthMonitor owner, BackendState backend, PoolRuntime pool)
        {
            _owner = owner;
            _backend = backend;
            _pool = pool.Config;
            _active = pool.Config.HealthCheck is null ? BackendHealth.Healthy : BackendHealth.Unknown;
            _since = owner._time.GetUtcNow().UtcDateTime;
            _reason = pool.Config.HealthCheck is null ? "no active check" : "not checked yet";
            _http = pool.HttpClient;
            StartProbing();
        }

        public HealthObservation Observe()
        {
            lock (_gate)
            {
                return new HealthObservation(_backend.Pool, _backend.Name, _backend.Health, _reason, _since, _backend.InFlight);
            }
        }

        public void Reconfigure(PoolRuntime pool)
        {
            HealthObservation? changed = null;
            var previous = _backend.Health;
            lock (_gate)
            {
                var checkChanged = pool.Config.HealthCheck != _pool.HealthCheck;
                _pool = pool.Config;
                _http = pool.HttpClient;
                if (!checkChanged)
                {
                    // The registry resets Health on rebuilds; keep what this agent observed.
                    _backend.Health = Effective();
                    return;
                }
                _passes = 0;
                _failures = 0;
                if (_pool.HealthCheck is null)
                {
                    _active = BackendHealth.Healthy;
                    _reason = "no active check";
                }
                _backend.Health = previous;
                changed = Apply(previous);
            }
            if (changed is not null)
            {
                _owner.Publish(changed, previous);
            }
            StartProbing();
        }

        public void Stop()
        {
            lock (_gate)
            {
                _probeLoop?.Cancel();
                _probeLoop?.Dispose();
                _probeLoop = null;
                _ejectionTimer?.Dispose();
            }
        }

        private void StartProbing()
        {
            CancellationTokenSource loop;
            HealthCheckConfig? check;
            lock (_gate)
            {
                _probeLoop?.Cancel();
                _probeLoop?.Dispose();
                _probeLoop = null;
                check = _pool.HealthCheck;
                if (check is null)
                {
                    return;
                }
                loop = CancellationTokenSource.CreateLinkedTokenSource(_owner._stopping.Token);
                _probeLoop = loop;
            }
            _ = Task.Run(() => ProbeLoopAsync(check, loop.Token));
        }

        private async Task ProbeLoopAsync(HealthCheckConfig check, CancellationToken cancellationToken)
        {
            try
            {
                var first = FirstProbeWindow(check.Interval, _pool.Backends.Count) * Random.Shared.NextDouble();
                await Task.Delay(first, _owner._time, cancellationToken).ConfigureAwait(false);
                while (!cancellationToken.IsCancellationRequested)
                {
                    var (ok, reason) = await ProbeAsync(check, cancellationToken).ConfigureAwait(false);
                    OnActive(check, ok, reason);
                    var jitter = 0.9 + (Random.Shared.NextDouble() * 0.2);
                    await Task.Delay(check.Interval * jitter, _owner._time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Stopped: the backend left the pool or its check changed.
            }
        }

        private async Task<(bool Ok, string Reason)> ProbeAsync(HealthCheckConfig check, CancellationToken cancellationToken)
        {
            var port = check.Port > 0 ? check.Port : _backend.Port;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(check.Timeout);
            try
            {
                if (check.Type == "tcp")
                {
                    using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync(_backend.Host, port, timeout.Token).ConfigureAwait(false);
                    return (true, "tcp connect ok");
                }

                var http = _http ?? SharedHttp;
                var scheme = _pool.Protocol == "https" ? "https" : "http";
                var host = _backend.Host.Contains(':', StringComparison.Ordinal) ? $"[{_backend.Host}]" : _backend.Host;
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{scheme}://{host}:{port}{check.Path}");
                request.Headers.UserAgent.ParseAdd("lb-agent-health/1");
                using var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                foreach (var range in check.ExpectedStatus)
                {
                    if (status >= range.From && status <= range.To)
                    {
                        return (true, $"status {status}");
                    }
                }
                return (false, $"status {status}");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (false, "timeout");
            }
            catch (SocketException ex)
            {
                return (false, Describe(ex));
            }
            catch (HttpRequestException ex)
            {
                // The pool's client wraps connect failures (BackendConnectException): name the cause, not the wrapper.
                return (false, ex.InnerException switch
                {
                    BackendConnectException { TimedOut: true } => "timeout",
                    { } inner when inner.GetBaseException() is SocketException socket => Describe(socket),
                    _ => ex.Message,
                });
            }
        }

        private static string Describe(SocketException ex) => ex.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.TimedOut => "timeout",
            SocketError.HostNotFound or SocketError.NoData => "host not found",
            SocketError.ConnectionReset => "connection reset",
            _ => ex.Message,
        };

        private void OnActive(HealthCheckConfig check, bool ok, string reason)
        {
            HealthObservation? changed = null;
            var previous = BackendHealth.Unknown;
            lock (_gate)
            {
                if (_pool.HealthCheck != check)
                {
                    return;
                }
                previous = _backend.Health;
                if (ok)
                {
                    _failures = 0;
                    _passes++;
                    if (_active != BackendHealth.Healthy && (_active == BackendHealth.Unknown || _passes >= check.HealthyThreshold))
                    {
                        _active = BackendHealth.Healthy;
                        _reason = reason;
                    }
                    if (IsEjected() && _pool.PassiveHealth is { KeepEjectionOnActivePass: false })
                    {
                        // The backend answers its checks again: the ejection has done its job.
                        _ejectedUntil = 0;
                        _ejectionTimer?.Dispose();
                        _ejectionTimer = null;
                        if (_active == BackendHealth.Healthy)
                        {
                            _reason = $"ejection lifted: active check passed ({reason})";
                        }
                    }
                }
                else
                {
                    _passes = 0;
                    _failures++;
                    if (_active != BackendHealth.Unhealthy && (_active == BackendHealth.Unknown || _failures >= check.UnhealthyThreshold))
                    {
                        _active = BackendHealth.Unhealthy;
                        _reason = reason;
                    }
                    else if (_active == BackendHealth.Unhealthy)
                    {
                        _reason = reason;
                    }
                }
                changed = Apply(previous);
            }
            if (changed is not null)
            {
                _owner.Publish(changed, previous);
            }
            if (previous == BackendHealth.Unknown)
            {
                _owner.CompleteWarmingIfKnown(_owner._pools.Find(_backend.Pool));
            }
        }

        public void OnPassive(bool success, string? failureReason)
        {
            var passive = _pool.PassiveHealth;
            if (passive is null)
            {
                return;
            }
            HealthObservation? changed = null;
            var previous = BackendHealth.Unknown;
            lock (_gate)
            {
                if (success)
                {
                    _passiveFailures = 0;
                    return;
                }
                _passiveFailures++;
                if (_passiveFailures < passive.ConsecutiveFailures || IsEjected())
                {
                    return;
                }
                previous = _backend.Health;
                _ejectedUntil = Environment.TickCount64 + (long)passive.EjectionTime.TotalMilliseconds;
                _passiveFailures = 0;
                _reason = $"passive: {passive.ConsecutiveFailures} consecutive failures ({failureReason})";
                _ejectionTimer?.Dispose();
                _ejectionTimer = new Timer(_ => OnEjectionOver(), null, passive.EjectionTime, Timeout.InfiniteTimeSpan);
                changed = Apply(previous);
            }
            if (changed is not null)
            {
                _owner.Publish(changed, previous);
            }
        }

        private void OnEjectionOver()
        {
            HealthObservation? changed;
            BackendHealth previous;
            lock (_gate)
            {
                previous = _backend.Health;
                EndEjection();
                changed = Apply(previous);
            }
            if (changed is not null)
            {
                _owner.Publish(changed, previous);
            }
        }

        // Caller holds _gate.
        private void EndEjection()
        {
            _ejectedUntil = 0;
            _reason = _active == BackendHealth.Healthy ? "ejection over" : _reason;
        }

        private bool IsEjected() => _ejectedUntil != 0 && Environment.TickCount64 < _ejectedUntil;

        private BackendHealth Effective() => IsEjected() ? BackendHealth.Unhealthy : _active;

        // Caller holds _gate. Returns the observation to publish when the effective state moved.
        private HealthObservation? Apply(BackendHealth previous)
        {
            if (_ejectedUntil != 0 && !IsEjected())
            {
                // The ejection's time passed before its timer ran (a late timer on a busy machine):
                // whoever sees it first ends it, so the way back says why.
                EndEjection();
                _ejectionTimer?.Dispose();
                _ejectionTimer = null;
            }
            var next = Effective();
            _backend.Health = next;
            if (next == previous)
            {
                return null;
            }
            _since = _owner._time.GetUtcNow().UtcDateTime;
            return new HealthObservation(_backend.Pool, _backend.Name, next, _reason, _since, _backend.InFlight);
        }
    }

    // Used only when a pool has no client of its own (tcp pools with an http check on a side port).
    private static readonly HttpMessageInvoker SharedHttp = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        SslOptions = { RemoteCertificateValidationCallback = static (_, _, _, _) => true },
    });

    private static partial class Log
    {
        [LoggerMessage(EventId = 8001, Level = LogLevel.Warning, Message = "Backend {Pool}/{Backend} is unhealthy: {Reason}")]
        public static partial void BecameUnhealthy(ILogger logger, string pool, string backend, string reason);

        [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Backend {Pool}/{Backend} is healthy again")]
        public static partial void BecameHealthy(ILogger logger, string pool, string backend);
    }
}
