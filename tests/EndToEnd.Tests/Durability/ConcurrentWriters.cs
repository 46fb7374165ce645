using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Durability;

/// <summary>
/// Several writers creating backends in pool "writes" at once, through the real gRPC API, until the
/// control plane is cut off: the durability tests' load, with the list of every acknowledged write.
/// </summary>
internal static class ConcurrentWriters
{
    /// <summary>
    /// Runs <paramref name="writers"/> writers; once <paramref name="cutAfter"/> writes were
    /// acknowledged, runs <paramref name="cut"/> once (it kills the control plane) while writes are
    /// still in flight. Returns the names of the writes acknowledged before the cut, after the cut
    /// itself has finished.
    /// </summary>
    public static async Task<IReadOnlyCollection<string>> RunUntilCutAsync(TestCluster cluster, int writers, int cutAfter, Func<Task> cut)
    {
        var acknowledged = new ConcurrentBag<string>();
        var cutTask = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        using (var channel = cluster.CreateChannel())
        {
            var client = new Management.ManagementClient(TestCluster.WithToken(channel, () => File.ReadAllText(cluster.AdminTokenFile).Trim()));
            var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < 1000; i++)
                {
                    if (acknowledged.Count >= cutAfter && Interlocked.Exchange(ref started, 1) == 0)
                    {
                        // Not awaited here: the other writers' calls must be in flight when it lands.
                        cutTask.SetResult(Task.Run(cut));
                    }
                    var name = $"w{w}-{i.ToString(CultureInfo.InvariantCulture)}";
                    try
                    {
                        await client.CreateBackendAsync(new WriteBackendRequest
                        {
                            Backend = new Backend
                            {
                                Metadata = new ObjectMeta { Name = name },
                                Spec = new BackendSpec { Pool = "writes", Address = "127.0.0.1:" + (10000 + (w * 1000) + i).ToString(CultureInfo.InvariantCulture) },
                            },
                        }, deadline: DateTime.UtcNow.AddSeconds(5));
                        acknowledged.Add(name);
                    }
                    catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
                    {
                        // The per-token rate limit refused the call before any write: pause and
                        // send it again, so the writers are still writing when the cut comes.
                        await Task.Delay(50);
                        i--;
                    }
                    catch (RpcException)
                    {
                        return;
                    }
                }
            })).ToArray();
            await Task.WhenAll(tasks);
        }
        if (Interlocked.Exchange(ref started, 1) == 0)
        {
            // Every writer finished (or failed) before the threshold: cut anyway, the caller asserts the count.
            cutTask.SetResult(Task.Run(cut));
        }
        await await cutTask.Task;
        return [.. acknowledged];
    }
}
