using System.Globalization;
using System.Threading.Channels;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.EndToEnd.Tests.Stability;

/// <summary>
/// A real AgentSync gRPC server on loopback (h2c) whose snapshots the test writes by hand:
/// it stands in for the control plane only to send what the real one never produces (a snapshot
/// that cannot be decoded, a delta that does not apply). It records every message the agent sends.
/// </summary>
public sealed class ScriptedControlPlane : AgentSync.AgentSyncBase, IAsyncDisposable
{
    private readonly Channel<AgentMessage> _received = Channel.CreateUnbounded<AgentMessage>();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private TaskCompletionSource<IServerStreamWriter<ControlPlaneMessage>> _stream = NewStream();
    private WebApplication? _app;

    public int Port { get; private set; }

    public string Url => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public static async Task<ScriptedControlPlane> StartAsync()
    {
        var server = new ScriptedControlPlane { Port = Ports.Free() };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Plain-text HTTP/2 only: gRPC over http:// needs prior knowledge, there is no upgrade.
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, server.Port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(server);
        server._app = builder.Build();
        server._app.MapGrpcService<ScriptedControlPlane>();
        await server._app.StartAsync().ConfigureAwait(false);
        return server;
    }

    public override async Task Sync(IAsyncStreamReader<AgentMessage> requestStream, IServerStreamWriter<ControlPlaneMessage> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(context);
        _stream.TrySetResult(responseStream);
        try
        {
            await foreach (var message in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                await _received.Writer.WriteAsync(message, context.CancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            // A reconnecting agent gets a fresh stream to write to.
            _stream = NewStream();
        }
    }

    /// <summary>Starts a real lb-agent of tier edge against this control plane, its cache in ROOT/cache, listening on 127.0.0.1.</summary>
    public ManagedProcess StartAgent(string name, string root, string adminUrl) =>
        ManagedProcess.Start("agent " + name, Binaries.Agent,
        [
            "--control-plane", Url, "--tier", "edge", "--name", name,
            "--admin", adminUrl, "--cache", Path.Combine(root, "cache"), "--bind", "127.0.0.1",
        ]);

    /// <summary>Sends a snapshot on the agent's open stream, waiting for the agent to connect first.</summary>
    public Task SendAsync(Snapshot snapshot, TimeSpan timeout) => SendAsync(new ControlPlaneMessage { Snapshot = snapshot }, timeout);

    /// <summary>Sends a message (a snapshot, a delta) on the agent's open stream, waiting for the agent to connect first.</summary>
    public async Task SendAsync(ControlPlaneMessage message, TimeSpan timeout)
    {
        var stream = await _stream.Task.WaitAsync(timeout).ConfigureAwait(false);
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(message).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The next message from the agent that matches, skipping the others (health reports, Hello).</summary>
    public async Task<AgentMessage> NextAsync(Func<AgentMessage, bool> match, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var message = await _received.Reader.ReadAsync(deadline.Token).ConfigureAwait(false);
                if (match(message))
                {
                    return message;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#}s waiting for the agent to send {what}.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
        _sendLock.Dispose();
    }

    private static TaskCompletionSource<IServerStreamWriter<ControlPlaneMessage>> NewStream() =>
        new(TaskCreationOptions.RunContinuationsAsynchronously);
}
