using System.Net;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Tcp;
using LoadBalancer.Agent.Tls;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace LoadBalancer.Agent.Listeners;

/// <summary>Whether one listener of the snapshot is being served, and if not, why.</summary>
public sealed record ListenerOutcome(string Name, bool Programmed, string Reason);

/// <summary>
/// Opens, updates and closes the listeners of the applied snapshot. Each listener has its own
/// Kestrel server (Kestrel cannot add endpoints to a running server), so a listener that fails
/// to bind fails alone, and an unchanged one is never touched. Failed listeners are retried
/// with backoff until they come up or leave the snapshot.
/// </summary>
internal sealed partial class ListenerManager : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, ListenerRuntime> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FailedListener> _failed = new(StringComparer.Ordinal);
    private readonly IServiceProvider _services;
    private readonly IConnectionListenerFactory _transport;
    private readonly IHttpContextFactory _contextFactory;
    private readonly HttpProxyHandler _httpHandler;
    private readonly TcpProxyHandler _tcpHandler;
    private readonly ListenerEndpointConfigurator _endpoints;
    private readonly CertificateLoader _certificates;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly IPAddress _bindAddress;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private IReadOnlyList<ListenerConfig> _desired = [];
    private Task? _retryLoop;

    public ListenerManager(
        IServiceProvider services,
        IConnectionListenerFactory transport,
        IHttpContextFactory contextFactory,
        HttpProxyHandler httpHandler,
        TcpProxyHandler tcpHandler,
        ListenerEndpointConfigurator endpoints,
        CertificateLoader certificates,
        ILoggerFactory loggerFactory,
        AgentOptions options,
        TimeProvider time)
    {
        _services = services;
        _transport = transport;
        _contextFactory = contextFactory;
        _httpHandler = httpHandler;
        _tcpHandler = tcpHandler;
        _endpoints = endpoints;
        _certificates = certificates;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ListenerManager>();
        _bindAddress = options.BindAddress;
        _time = time;
    }

    /// <summary>Raised when a previously failed listener came up by itself (the agent re-reports).</summary>
    public event Action? OutcomesChanged;

    public IReadOnlyList<ListenerOutcome> Outcomes { get; private set; } = [];

    /// <summary>The certificates each running https listener serves now (name, fingerprint).</summary>
    public IReadOnlyList<(string Listener, string Certificate, string Fingerprint)> ServedCertificates
    {
        get
        {
            lock (_running)
            {
                return _running.Values
                    .SelectMany(r => r.State.Tls?.Certificates.Select(c => (r.Config.Name, c.Name, c.Fingerprint)) ?? [])
                    .ToList();
            }
        }
    }

    public async Task<IReadOnlyList<ListenerOutcome>> ApplyAsync(
        IReadOnlyList<ListenerConfig> listeners,
        IReadOnlyList<CertificateConfig> certificates,
        CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopping.IsCancellationRequested)
            {
                // Draining for shutdown: a snapshot arriving now must not reopen what was closed.
                return Outcomes;
            }
            _desired = listeners;
            var wanted = listeners.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);

            foreach (var name in _running.Keys.Where(n => !wanted.Contains(n)).ToList())
            {
                var runtime = _running[name];
                lock (_running)
                {
                    _running.Remove(name);
                }
                Log.ListenerStopping(_logger, name, runtime.Config.Port);
                await runtime.StopAsync(StopGrace).ConfigureAwait(false);
            }
            foreach (var name in _failed.Keys.Where(n => !wanted.Contains(n)).ToList())
            {
                _failed.Remove(name);
            }

            await ReleaseClaimedPortsAsync(listeners).ConfigureAwait(false);

            var byName = certificates.ToDictionary(c => c.Name, StringComparer.Ordinal);
            var outcomes = new List<ListenerOutcome>(listeners.Count);
            foreach (var config in listeners)
            {
                outcomes.Add(await ApplyOneAsync(config, byName, cancellationToken).ConfigureAwait(false));
            }
            _certificates.Retain(certificates);
            Outcomes = outcomes;
            EnsureRetryLoop();
            return outcomes;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Make before break is impossible when the new form needs a port this agent itself holds
    /// (a protocol change on the same port, two listeners swapping ports): stop those holders
    /// first, so that the new forms can bind.
    /// </summary>
    private async Task ReleaseClaimedPortsAsync(IReadOnlyList<ListenerConfig> listeners)
    {
        foreach (var runtime in _running.Values.ToList())
        {
            var port = runtime.Config.Port;
            var claimedByOther = listeners.Any(l => l.Port == port && l.Name != runtime.Config.Name);
            var self = listeners.FirstOrDefault(l => l.Name == runtime.Config.Name);
            var changesInPlaceImpossible = self is not null && self.Port == port && !ListenerEndpointConfigurator.CanUpdateInPlace(runtime.Config, self);
            if (!claimedByOther && !changesInPlaceImpossible)
            {
                continue;
            }
            lock (_running)
            {
                _running.Remove(runtime.Config.Name);
            }
            Log.ListenerStopping(_logger, runtime.Config.Name, port);
            await runtime.StopAsync(StopGrace).ConfigureAwait(false);
        }
    }

    private async Task<ListenerOutcome> ApplyOneAsync(ListenerConfig config, Dictionary<string, CertificateConfig> certificates, CancellationToken cancellationToken)
    {
        _running.TryGetValue(config.Name, out var existing);

        SniCertificateMap? tls = null;
        if (config.IsHttps)
        {
            try
            {
                tls = new SniCertificateMap(config.Certificates.Select(name => _certificates.Load(certificates[name])).ToList(), config.TlsPolicy);
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or InvalidOperationException or ArgumentException or KeyNotFoundException)
            {
                // The platform could not load a certificate: this listener keeps its previous form.
                var reason = $"certificate cannot be loaded: {ex.Message}";
                Log.ListenerFailed(_logger, config.Name, config.Port, reason);
                return new ListenerOutcome(config.Name, false, reason);
            }
        }

        if (existing is not null && existing.Config == config && existing.State.TlsVersion == ListenerState.TlsVersionOf(tls))
        {
            // A failed attempt at another form is moot now: stop retrying it.
            _failed.Remove(config.Name);
            return new ListenerOutcome(config.Name, true, string.Empty);
        }

        if (existing is not null && ListenerEndpointConfigurator.CanUpdateInPlace(existing.Config, config))
        {
            _failed.Remove(config.Name);
            existing.State.Update(config, tls);
            Log.ListenerUpdated(_logger, config.Name, config.Port);
            return new ListenerOutcome(config.Name, true, string.Empty);
        }

        // Make before break: the new form must be up before the old one goes.
        var state = new ListenerState(config, tls);
        var (started, error) = await StartAsync(state, cancellationToken).ConfigureAwait(false);
        if (started is null)
        {
            var attempts = _failed.TryGetValue(config.Name, out var failed) ? failed.Attempts : 0;
            _failed[config.Name] = new FailedListener(state, error, attempts, _time.GetUtcNow() + Backoff(attempts));
            Log.ListenerFailed(_logger, config.Name, config.Port, error);
            return new ListenerOutcome(config.Name, false, error);
        }

        _failed.Remove(config.Name);
        lock (_running)
        {
            _running[config.Name] = started;
        }
        if (existing is not null)
        {
            await existing.StopAsync(StopGrace).ConfigureAwait(false);
        }
        Log.ListenerStarted(_logger, config.Name, config.Protocol, _bindAddress.ToString(), config.Port);
        return new ListenerOutcome(config.Name, true, string.Empty);
    }

    private async Task<(ListenerRuntime? Runtime, string Error)> StartAsync(ListenerState state, CancellationToken cancellationToken)
    {
        var config = state.Config;
        if (config.Protocol == "tcp")
        {
            return StartTcp(state);
        }
        var options = new KestrelServerOptions
        {
            ApplicationServices = _services,
            AddServerHeader = false,
        };
        // A proxy streams bodies of any size; backends enforce their own limits.
        options.Limits.MaxRequestBodySize = null;
        options.Limits.MinRequestBodyDataRate = null;

        try
        {
            options.Listen(_bindAddress, config.Port, listen => _endpoints.Configure(listen, state));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            return (null, ex.Message);
        }

        var server = new KestrelServer(Options.Create(options), _transport, _loggerFactory);
        var application = new ListenerHttpApplication(context => _httpHandler.HandleAsync(context, config.Name, state.Routes, state.Config.TracingSamplingRatio), _contextFactory);
        try
        {
            await server.StartAsync(application, cancellationToken).ConfigureAwait(false);
            return (new ListenerRuntime(server.StopAsync, server, state), string.Empty);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            server.Dispose();
            var reason = ex is AddressInUseException || ex.InnerException is AddressInUseException
                ? $"port {config.Port} on {_bindAddress} is already in use"
                : $"cannot listen on {_bindAddress}:{config.Port}: {ex.GetBaseException().Message}";
            return (null, reason);
        }
    }

    /// <summary>A tcp listener relays on its own sockets, without Kestrel (see <see cref="TcpListenerServer"/>).</summary>
    private (ListenerRuntime? Runtime, string Error) StartTcp(ListenerState state)
    {
        var port = state.Config.Port;
        try
        {
            var server = TcpListenerServer.Start(_bindAddress, port, state, _tcpHandler, _logger);
            return (new ListenerRuntime(server.StopAsync, server, state), string.Empty);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            var reason = ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse
                ? $"port {port} on {_bindAddress} is already in use"
                : $"cannot listen on {_bindAddress}:{port}: {ex.Message}";
            return (null, reason);
        }
    }

    private void EnsureRetryLoop()
    {
        _retryLoop ??= Task.Run(() => RetryLoopAsync(_stopping.Token));
    }

    private async Task RetryLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), _time, cancellationToken).ConfigureAwait(false);
                var changed = false;
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    foreach (var failed in _failed.Values.Where(f => f.NextAttempt <= _time.GetUtcNow()).ToList())
                    {
                        var (started, error) = await StartAsync(failed.State, cancellationToken).ConfigureAwait(false);
                        var name = failed.State.Config.Name;
                        if (started is null)
                        {
                            _failed[name] = failed with { Error = error, Attempts = failed.Attempts + 1, NextAttempt = _time.GetUtcNow() + Backoff(failed.Attempts + 1) };
                            continue;
                        }
                        _failed.Remove(name);
                        ListenerRuntime? old;
                        lock (_running)
                        {
                            _running.Remove(name, out old);
                            _running[name] = started;
                        }
                        if (old is not null)
                        {
                            await old.StopAsync(StopGrace).ConfigureAwait(false);
                        }
                        Log.ListenerRecovered(_logger, name, failed.State.Config.Port);
                        changed = true;
                    }
                    if (changed)
                    {
                        Outcomes = _desired
                            .Select(l => _failed.TryGetValue(l.Name, out var f)
                                ? new ListenerOutcome(l.Name, false, f.Error)
                                : new ListenerOutcome(l.Name, true, string.Empty))
                            .ToList();
                    }
                }
                finally
                {
                    _gate.Release();
                }
                if (changed)
                {
                    OutcomesChanged?.Invoke();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static TimeSpan Backoff(int attempts) =>
        TimeSpan.FromMilliseconds(Math.Min(30_000, 500 * Math.Pow(2, Math.Min(attempts, 10))) * (0.8 + (Random.Shared.NextDouble() * 0.4)));

    /// <summary>Stops accepting, lets in-flight requests finish within the grace period, then closes.</summary>
    public async Task StopAllAsync(TimeSpan grace)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            List<ListenerRuntime> running;
            lock (_running)
            {
                running = [.. _running.Values];
                _running.Clear();
            }
            await Task.WhenAll(running.Select(r => r.StopAsync(grace))).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAllAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed record FailedListener(ListenerState State, string Error, int Attempts, DateTimeOffset NextAttempt);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Listener {Listener} serving {Protocol} on {Address}:{Port}")]
        public static partial void ListenerStarted(ILogger logger, string listener, string protocol, string address, int port);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Listener {Listener} on port {Port} updated in place")]
        public static partial void ListenerUpdated(ILogger logger, string listener, int port);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Listener {Listener} on port {Port} stopping")]
        public static partial void ListenerStopping(ILogger logger, string listener, int port);

        [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Listener {Listener} on port {Port} failed: {Reason}; retrying with backoff")]
        public static partial void ListenerFailed(ILogger logger, string listener, int port, string reason);

        [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Listener {Listener} on port {Port} came up after retrying")]
        public static partial void ListenerRecovered(ILogger logger, string listener, int port);
    }
}
