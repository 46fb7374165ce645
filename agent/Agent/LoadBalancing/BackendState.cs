namespace LoadBalancer.Agent.LoadBalancing;

public enum BackendAdminState
{
    Enabled = 0,
    Draining = 1,
    Disabled = 2,
}

public enum BackendHealth
{
    Unknown = 0,
    Healthy = 1,
    Unhealthy = 2,
}

/// <summary>
/// Runtime state of one backend, shared by the HTTP and TCP paths. The same instance lives
/// across snapshots for as long as the backend (pool + name + address) stays in the pool,
/// so counters and averages survive configuration updates.
/// </summary>
public sealed class BackendState
{
    private int _weight;
    private int _adminState;
    private int _health;
    private long _inFlight;
    private long _latencyEwmaMicros;
    private long _drainDeadline;
    private long _lastLatencySample;

    public BackendState(string pool, string name, string host, int port, int weight = 1)
    {
        Pool = pool;
        Name = name;
        Host = host;
        Port = port;
        Address = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        _weight = weight;
    }

    public string Pool { get; }

    public string Name { get; }

    public string Host { get; }

    public int Port { get; }

    /// <summary>host:port, with brackets around an IPv6 host.</summary>
    public string Address { get; }

    public int Weight
    {
        get => Volatile.Read(ref _weight);
        set => Volatile.Write(ref _weight, value);
    }

    public BackendAdminState AdminState
    {
        get => (BackendAdminState)Volatile.Read(ref _adminState);
        set => Volatile.Write(ref _adminState, (int)value);
    }

    public BackendHealth Health
    {
        get => (BackendHealth)Volatile.Read(ref _health);
        set => Volatile.Write(ref _health, (int)value);
    }

    /// <summary>Takes new requests or connections: enabled and healthy.</summary>
    public bool IsAvailable => AdminState == BackendAdminState.Enabled && Health == BackendHealth.Healthy;

    /// <summary>
    /// While draining: Environment.TickCount64 until which existing sticky sessions may still
    /// reach this backend (0 = not draining).
    /// </summary>
    public long DrainDeadline
    {
        get => Volatile.Read(ref _drainDeadline);
        set => Volatile.Write(ref _drainDeadline, value);
    }

    /// <summary>
    /// Takes the requests of a session already stuck to it: available, or draining (and not
    /// unhealthy) until the drain deadline, as HAProxy's drain does.
    /// </summary>
    public bool AcceptsStickySession =>
        IsAvailable
        || (AdminState == BackendAdminState.Draining && Health != BackendHealth.Unhealthy && Environment.TickCount64 < DrainDeadline);

    /// <summary>In-flight HTTP requests plus open TCP connections.</summary>
    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Exponentially weighted moving average of response time, in microseconds (0 = no sample yet).</summary>
    public long LatencyEwmaMicros => Volatile.Read(ref _latencyEwmaMicros);

    public void Enter() => Interlocked.Increment(ref _inFlight);

    public void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Environment.TickCount64 of the last latency sample (0 = none).</summary>
    public long LastLatencySample => Volatile.Read(ref _lastLatencySample);

    public void RecordLatency(TimeSpan elapsed)
    {
        Volatile.Write(ref _lastLatencySample, Environment.TickCount64);
        var sample = Math.Max(1, (long)elapsed.TotalMicroseconds);
        // A lost update under contention only drops one sample of a moving average: no lock needed.
        var current = Volatile.Read(ref _latencyEwmaMicros);
        var next = current == 0 ? sample : current + ((sample - current) / 8);
        Volatile.Write(ref _latencyEwmaMicros, next);
    }
}
