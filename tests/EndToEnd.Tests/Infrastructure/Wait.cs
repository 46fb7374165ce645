using System.Diagnostics;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

public static class Wait
{
    /// <summary>Polls a condition until it holds; fails with the message (and diagnostics) after the timeout.</summary>
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? diagnostics = null)
    {
        var watch = Stopwatch.StartNew();
        Exception? last = null;
        while (watch.Elapsed < timeout)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return watch.Elapsed;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or Grpc.Core.RpcException or InvalidOperationException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
            {
                last = ex;
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#}s waiting for {what}. Last error: {last?.Message ?? "none"}\n{diagnostics?.Invoke()}");
    }

    public static Task<TimeSpan> UntilAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string>? diagnostics = null) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what, diagnostics);
}
