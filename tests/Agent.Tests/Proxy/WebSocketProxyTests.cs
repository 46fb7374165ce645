using System.Net.WebSockets;
using System.Text;
using LoadBalancer.Agent.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

/// <summary>An HTTP/1.1 WebSocket upgrade goes through the agent and the connection carries messages both ways.</summary>
public sealed class WebSocketProxyTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private InProcessAgent _agent = null!;
    private WebApplication _backend = null!;

    public async Task InitializeAsync()
    {
        _agent = await InProcessAgent.StartAsync("edge");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _backend = builder.Build();
        _backend.UseWebSockets();
        // Echoes each text message upper-cased until the client closes.
        _backend.Run(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    return;
                }
                var answer = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(buffer, 0, received.Count).ToUpperInvariant());
                await socket.SendAsync(answer, WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);
            }
        });
        await _backend.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Upgrade_IsForwarded_AndMessagesFlowBothWaysUntilANormalClose()
    {
        var backendPort = new Uri(_backend.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single()).Port;
        var port = Ports.Free();
        Assert.True((await _agent.ApplyAsync([Http("web", port, Route("app"))], [Pool("app", [Backend("b", backendPort)], retries: 1)])).Single().Programmed);

        using var cts = new CancellationTokenSource(Wait);
        using var client = new ClientWebSocket();
        await client.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat"), cts.Token);
        var buffer = new byte[4096];
        foreach (var message in new[] { "hello", "through", "the agent" })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, endOfMessage: true, cts.Token);
            var received = await client.ReceiveAsync(buffer, cts.Token);
            Assert.Equal(message.ToUpperInvariant(), Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);

        Assert.Equal(WebSocketState.Closed, client.State);
        Assert.Equal("bye", client.CloseStatusDescription);
    }
}
