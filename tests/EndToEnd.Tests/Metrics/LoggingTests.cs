using System.Text.Json;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Metrics;

/// <summary>Issue 10 logs: structured JSON on request, and an access log naming the chosen backend and timing.</summary>
public sealed class LoggingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AccessLog_InJson_NamesListenerPoolBackendStatusAndTiming()
    {
        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var backend = await cluster.StartBackendAsync("log-1");
            var agent = await cluster.StartAgentAsync("edge", "edge-1", "127.0.0.1", "--access-log", "--log-format", "json");
            var port = Ports.Free();
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(Yaml.Pool("logged"), Yaml.Backend("log-1", "logged", backend.Port), Yaml.HttpListener("front", "edge", port, "logged")))).ExitCode);
            await Wait.UntilAsync(async () => await cluster.WhoAnswersAsync($"http://127.0.0.1:{port}/orders/7") == "log-1", TimeSpan.FromSeconds(15), "the listener", cluster.Diagnostics);

            JsonElement? access = null;
            await Wait.UntilAsync(
                () =>
                {
                    foreach (var line in agent.Process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    {
                        using var document = JsonDocument.Parse(line);
                        if (document.RootElement.GetProperty("EventId").GetInt32() == 3100)
                        {
                            access = document.RootElement.Clone();
                            return true;
                        }
                    }
                    return false;
                },
                TimeSpan.FromSeconds(10),
                "an access log line");
            var state = access!.Value.GetProperty("State");
            output.WriteLine(access.Value.GetProperty("Message").GetString());
            Assert.Equal("front", state.GetProperty("Listener").GetString());
            Assert.Equal("logged", state.GetProperty("Pool").GetString());
            Assert.Equal("log-1", state.GetProperty("Backend").GetString());
            Assert.Equal(200, state.GetProperty("Status").GetInt32());
            Assert.Equal("/orders/7", state.GetProperty("Path").GetString());
            Assert.True(state.GetProperty("DurationMs").GetDouble() > 0);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }
}
