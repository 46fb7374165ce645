using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A control plane, agents and sample backends as real processes on loopback, plus lbctl runs
/// against them. Everything it started is killed on dispose.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly List<ManagedProcess> _processes = [];
    private readonly Dictionary<string, string> _agentTokenFiles = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private GrpcChannel? _channel;

    private readonly Dictionary<string, string>? _environment;
    private readonly string[] _controlPlaneArgs;

    private TestCluster(string root, string? dataDir, IReadOnlyDictionary<string, string>? environment, IReadOnlyList<string>? controlPlaneArgs)
    {
        Root = root;
        DataDir = dataDir ?? Path.Combine(root, "cp-data");
        _environment = environment?.ToDictionary();
        _controlPlaneArgs = [.. controlPlaneArgs ?? []];
    }

    public string Root { get; }

    /// <summary>The control plane's --data folder: Root/cp-data unless the test chose one (a mounted test filesystem).</summary>
    public string DataDir { get; }

    public int ControlPlanePort { get; private set; }

    /// <summary>The gRPC endpoint: TLS with the control plane's own CA, as in production.</summary>
    public string ControlPlaneUrl => $"https://127.0.0.1:{ControlPlanePort}";

    /// <summary>The CA the control plane made on first start; agents and lbctl pin it.</summary>
    public string CaFile => Path.Combine(DataDir, "tls", "ca.crt");

    /// <summary>The admin token the control plane wrote on first start.</summary>
    public string AdminTokenFile => Path.Combine(DataDir, "admin.token");

    public int ControlPlaneAdminPort { get; private set; }

    /// <summary>/healthz, /readyz and /metrics of the control plane (HTTP/1.1).</summary>
    public string ControlPlaneAdminUrl => $"http://127.0.0.1:{ControlPlaneAdminPort}";

    public ManagedProcess ControlPlane { get; private set; } = null!;

    public Management.ManagementClient Management { get; private set; } = null!;

    public Access.AccessClient Access { get; private set; } = null!;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(1), UseProxy = false })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };

    /// <param name="dataDir">The control plane's --data folder; by default one inside the cluster's temporary root.</param>
    /// <param name="environment">Variables for the control plane and every agent (e.g. OTEL_*).</param>
    /// <param name="controlPlaneArgs">More flags for the control plane (e.g. --otel).</param>
    public static async Task<TestCluster> StartAsync(string? dataDir = null, IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? controlPlaneArgs = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "lb-e2e-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var cluster = new TestCluster(root, dataDir, environment, controlPlaneArgs);
        try
        {
            await cluster.StartControlPlaneAsync().ConfigureAwait(false);
        }
        catch
        {
            // The caller never gets the cluster to dispose: kill what was started here.
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return cluster;
    }

    /// <summary>More lb-controlplane flags for the next <see cref="StartControlPlaneAsync"/>, after those given to <see cref="StartAsync"/> (a restart with a new retention limit, say).</summary>
    public IReadOnlyList<string> ControlPlaneArguments { get; set; } = [];

    public async Task StartControlPlaneAsync()
    {
        if (ControlPlanePort == 0)
        {
            ControlPlanePort = Ports.Free();
            ControlPlaneAdminPort = Ports.Free();
        }
        ControlPlane = Track(ManagedProcess.Start(
            "control-plane",
            Binaries.ControlPlane,
            ["--data", DataDir, "--listen", ControlPlaneUrl, "--admin", ControlPlaneAdminUrl, .. _controlPlaneArgs, .. ControlPlaneArguments],
            _environment));
        _channel?.Dispose();
        _channel = CreateChannel();
        var invoker = WithToken(_channel, () => File.ReadAllText(AdminTokenFile).Trim());
        Management = new Management.ManagementClient(invoker);
        Access = new Access.AccessClient(invoker);
        await Wait.UntilAsync(
            async () =>
            {
                await Management.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2)).ConfigureAwait(false);
                return true;
            },
            StartTimeout,
            "the control plane to answer",
            Diagnostics).ConfigureAwait(false);
    }

    /// <summary>A channel to the control plane that trusts only its CA (no token: see <see cref="WithToken"/>).</summary>
    public GrpcChannel CreateChannel()
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // The CA file appears when the control plane first starts, so it is read per handshake.
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    certificate is not null && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None && ChainsToCa(certificate),
            },
        };
        return GrpcChannel.ForAddress(ControlPlaneUrl, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    /// <summary>Calls on <paramref name="channel"/> carrying "authorization: Bearer" with the token <paramref name="token"/> gives.</summary>
    public static CallInvoker WithToken(GrpcChannel channel, Func<string> token)
    {
        ArgumentNullException.ThrowIfNull(channel);
        return channel.Intercept(metadata =>
        {
            metadata.Add("authorization", "Bearer " + token());
            return metadata;
        });
    }

    /// <summary>Makes (once per tier) an agent token for <paramref name="tier"/> and returns the file holding it.</summary>
    public async Task<string> AgentTokenFileAsync(string tier)
    {
        await _tokenLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_agentTokenFiles.TryGetValue(tier, out var file))
            {
                var created = await Access.CreateTokenAsync(new CreateTokenRequest { Role = "agent", Tier = tier, Description = "e2e agents of " + tier }).ConfigureAwait(false);
                file = Path.Combine(Root, $"agent-{tier}.token");
                await File.WriteAllTextAsync(file, created.Secret + "\n").ConfigureAwait(false);
                _agentTokenFiles[tier] = file;
            }
            return file;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    /// <summary>
    /// The arguments that connect an agent to this control plane: URL, CA and a token of its tier.
    /// <paramref name="controlPlanes"/> replaces the URL, e.g. with a comma-separated list that includes it.
    /// </summary>
    public async Task<string[]> AgentConnectionArgsAsync(string tier, string? controlPlanes = null) =>
        ["--control-plane", controlPlanes ?? ControlPlaneUrl, "--ca-file", CaFile, "--token-file", await AgentTokenFileAsync(tier).ConfigureAwait(false)];

    public async Task<AgentHandle> StartAgentAsync(string tier, string name, string bind = "127.0.0.1", params string[] extraArgs) =>
        await StartAgentProcessAsync(await AgentConnectionArgsAsync(tier).ConfigureAwait(false), tier, name, bind, extraArgs).ConfigureAwait(false);

    /// <summary>Starts an agent given <c>--control-plane</c> <paramref name="controlPlanes"/> (a comma-separated list).</summary>
    public async Task<AgentHandle> StartAgentWithControlPlanesAsync(string tier, string name, string controlPlanes) =>
        await StartAgentProcessAsync(await AgentConnectionArgsAsync(tier, controlPlanes).ConfigureAwait(false), tier, name, "127.0.0.1", []).ConfigureAwait(false);

    /// <summary>Starts an agent with these connection arguments (--control-plane, CA, token) instead of the usual ones.</summary>
    public async Task<AgentHandle> StartAgentProcessAsync(string[] connection, string tier, string name, string bind, string[] extraArgs)
    {
        var adminPort = Ports.Free();
        var process = Track(ManagedProcess.Start(
            "agent " + name,
            Binaries.Agent,
            [
                .. connection,
                "--tier", tier,
                "--name", name,
                "--admin", $"http://127.0.0.1:{adminPort}",
                "--cache", Path.Combine(Root, "cache-" + name),
                "--bind", bind,
                .. extraArgs,
            ],
            _environment));
        var agent = new AgentHandle(name, tier, adminPort, process);
        await Wait.UntilAsync(
            async () => (await Http.GetAsync(agent.AdminUrl + "/healthz").ConfigureAwait(false)).IsSuccessStatusCode,
            StartTimeout,
            $"agent {name} to start",
            Diagnostics).ConfigureAwait(false);
        return agent;
    }

    public Task<BackendHandle> StartBackendAsync(string name) => StartBackendOnAsync(name, Ports.Free());

    /// <summary>Starts a backend on a given port, e.g. again where a killed one was.</summary>
    public async Task<BackendHandle> StartBackendOnAsync(string name, int port)
    {
        var process = Track(ManagedProcess.Start("backend " + name, Binaries.SampleBackend, ["--name", name, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        var backend = new BackendHandle(name, port, process);
        await Wait.UntilAsync(
            async () => (await Http.GetAsync($"http://127.0.0.1:{port}/healthz").ConfigureAwait(false)).IsSuccessStatusCode,
            StartTimeout,
            $"backend {name} to start",
            Diagnostics).ConfigureAwait(false);
        return backend;
    }

    /// <summary>Runs lbctl against this cluster with its own config file.</summary>
    public async Task<CommandResult> LbctlAsync(params string[] args)
    {
        var info = new ProcessStartInfo(Binaries.Lbctl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--server");
        info.ArgumentList.Add(ControlPlaneUrl);
        if (!args.Contains("--ca-fingerprint"))
        {
            info.ArgumentList.Add("--ca-file");
            info.ArgumentList.Add(CaFile);
        }
        if (!args.Contains("--token-file"))
        {
            info.ArgumentList.Add("--token-file");
            info.ArgumentList.Add(AdminTokenFile);
        }
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["LBCTL_CONFIG"] = Path.Combine(Root, "lbctl.yaml");
        info.Environment["DOTNET_gcServer"] = "0";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new CommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    public async Task<CommandResult> ApplyAsync(string yaml, params string[] extraArgs)
    {
        var file = Path.Combine(Root, $"apply-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, yaml).ConfigureAwait(false);
        return await LbctlAsync(["apply", "-f", file, .. extraArgs]).ConfigureAwait(false);
    }

    /// <summary>Sends a GET and returns the name of the backend that answered (X-Backend), or null on failure.</summary>
    public async Task<string?> WhoAnswersAsync(string url, string? host = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (host is not null)
        {
            request.Headers.Host = host;
        }
        using var response = await Http.SendAsync(request).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }
        return response.Headers.TryGetValues("X-Backend", out var values) ? values.First() : null;
    }

    public async Task<Dictionary<string, int>> CountBackendsAsync(string url, int requests, string? host = null)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < requests; i++)
        {
            var who = await WhoAnswersAsync(url, host).ConfigureAwait(false) ?? "(failed)";
            counts[who] = counts.GetValueOrDefault(who) + 1;
        }
        return counts;
    }

    private bool ChainsToCa(X509Certificate certificate)
    {
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(CaFile));
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        return chain.Build(leaf);
    }

    public ManagedProcess Track(ManagedProcess process)
    {
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }

    public string Diagnostics()
    {
        var text = new StringBuilder();
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                var output = process.Output;
                text.AppendLine($"----- {process.Name} (exited: {process.HasExited})");
                text.AppendLine(output.Length > 6000 ? output[^6000..] : output);
            }
        }
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        List<ManagedProcess> processes;
        lock (_processes)
        {
            processes = [.. _processes];
        }
        foreach (var process in processes)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }
        _channel?.Dispose();
        _tokenLock.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A process may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }
}

public sealed record AgentHandle(string Name, string Tier, int AdminPort, ManagedProcess Process)
{
    public string AdminUrl => $"http://127.0.0.1:{AdminPort}";
}

public sealed record BackendHandle(string Name, int Port, ManagedProcess Process)
{
    public string Address => $"127.0.0.1:{Port}";
}

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}
