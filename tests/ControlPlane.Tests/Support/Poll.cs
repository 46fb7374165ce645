using System.Diagnostics;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>Waiting on a condition instead of sleeping: fails the test with the reason once the time is up.</summary>
internal static class Poll
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < timeout, $"not within {timeout}: {what}");
            await Task.Delay(25);
        }
    }
}
