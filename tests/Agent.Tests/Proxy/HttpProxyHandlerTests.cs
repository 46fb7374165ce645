using System.Net;
using System.Net.Sockets;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Testing;
using Yarp.ReverseProxy.Forwarder;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Proxy;

public sealed class HttpProxyHandlerTests
{
    [Theory]
    // Failed to connect: never reached a backend, so any method may go elsewhere.
    [InlineData("POST", ForwarderError.Request, true, false, false, true)]
    [InlineData("PATCH", ForwarderError.Request, true, false, false, true)]
    // Reached a backend and failed before answering: only idempotent methods run again.
    [InlineData("POST", ForwarderError.Request, false, false, false, false)]
    [InlineData("PUT", ForwarderError.Request, false, false, false, true)]
    [InlineData("DELETE", ForwarderError.Request, false, false, false, true)]
    [InlineData("GET", ForwarderError.Request, false, false, false, true)]
    [InlineData("OPTIONS", ForwarderError.Request, false, false, false, true)]
    // A timeout waiting for the answer is not a connection failure before a response byte.
    [InlineData("GET", ForwarderError.RequestTimedOut, false, false, false, false)]
    // Once the response started or the body started streaming, nothing can be replayed.
    [InlineData("GET", ForwarderError.Request, true, true, false, false)]
    [InlineData("PUT", ForwarderError.Request, false, false, true, false)]
    [InlineData("PUT", ForwarderError.Request, true, false, true, false)]
    public void CanRetry_FollowsTheRetryRule(string method, ForwarderError error, bool connectFailure, bool responseStarted, bool bodyRead, bool expected) =>
        Assert.Equal(expected, HttpProxyHandler.CanRetry(error, connectFailure, method, responseStarted, bodyRead));

    [Fact]
    public void FindConnectFailure_SocketTimeoutOnAnOpenConnection_IsNotAConnectFailure()
    {
        var readTimedOut = new HttpRequestException(HttpRequestError.Unknown, "read failed", new IOException("timed out", new SocketException((int)SocketError.TimedOut)));

        Assert.Null(HttpProxyHandler.FindConnectFailure(readTimedOut));
    }

    [Fact]
    public async Task PoolClient_ClosedPort_FailsWithAConnectFailure_NotATimeout()
    {
        using var client = PoolRuntime.CreateHttpClient(Pool("web", [], connectTimeout: TimeSpan.FromSeconds(5)));
        var port = ClosedPort();

        var exception = await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/"), CancellationToken.None));

        var connect = HttpProxyHandler.FindConnectFailure(exception);
        Assert.NotNull(connect);
        Assert.False(connect.TimedOut);
    }

    [Fact]
    public async Task PoolClient_ListenerNotAccepting_ConnectTimeoutIsAConnectFailure_ThatTimedOut()
    {
        using var blackHole = SynBlackHole.Start();
        var timeout = TimeSpan.FromMilliseconds(300);
        using var client = PoolRuntime.CreateHttpClient(Pool("web", [], connectTimeout: timeout));

        var started = TimeProvider.System.GetTimestamp();
        var exception = await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{blackHole.Port}/"), CancellationToken.None));

        var connect = HttpProxyHandler.FindConnectFailure(exception);
        Assert.NotNull(connect);
        Assert.True(connect.TimedOut);
        Assert.True(TimeProvider.System.GetElapsedTime(started) >= timeout * 0.9, "gave up before connectTimeout");
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
