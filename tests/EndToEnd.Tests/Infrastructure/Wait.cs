using System.Diagnostics;
using System.Text;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

public static class Wait
{
    /// <summary>
    /// Polls a condition until it holds; fails with the message (and diagnostics) after the timeout.
    /// Exceptions a condition may throw while the awaited thing is not there yet (refused, reset,
    /// handshake failed...) are swallowed and polled again, but never silently: a timeout names
    /// every kind it swallowed and how often, and <paramref name="swallowed"/>, when given, gets
    /// each of them so that a caller can assert that none happened.
    /// </summary>
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? diagnostics = null, ICollection<Exception>? swallowed = null)
    {
        var watch = Stopwatch.StartNew();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
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
                var key = $"{ex.GetType().Name}: {ex.Message}";
                seen[key] = seen.GetValueOrDefault(key) + 1;
                swallowed?.Add(ex);
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#}s waiting for {what}. {Describe(seen, last)}\n{diagnostics?.Invoke()}");
    }

    public static Task<TimeSpan> UntilAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string>? diagnostics = null) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what, diagnostics);

    private static string Describe(Dictionary<string, int> seen, Exception? last)
    {
        if (last is null)
        {
            return "No exception was swallowed.";
        }
        var text = new StringBuilder($"Swallowed {seen.Values.Sum()} exception(s):");
        foreach (var (kind, count) in seen.OrderByDescending(s => s.Value))
        {
            text.Append($"\n  {count} x {kind}");
        }
        var cause = last.GetBaseException();
        text.Append($"\nLast error: {last.GetType().Name}: {last.Message}");
        if (cause != last)
        {
            text.Append($" (caused by {cause.GetType().Name}: {cause.Message})");
        }
        return text.ToString();
    }
}
