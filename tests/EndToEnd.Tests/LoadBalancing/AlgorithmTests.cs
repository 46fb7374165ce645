using System.Globalization;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.LoadBalancing;

/// <summary>
/// Issue 3 end to end: one listener and pool per algorithm on a real edge agent, configured with
/// lbctl, requests through the agent, and the count per backend (X-Backend) checked against the
/// algorithm's definition. The cluster is shared by the class (<see cref="AlgorithmCluster"/>).
/// </summary>
public sealed class AlgorithmTests(AlgorithmCluster fixture, ITestOutputHelper output) : IClassFixture<AlgorithmCluster>
{
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(10);

    private IReadOnlyList<string> SharedNames => [.. fixture.Shared.Select(b => b.Name)];

    [Fact]
    public async Task RoundRobin_ThreeBackends_SplitsTrafficEvenly()
    {
        var counts = await CountAsync("rr", 60);

        Assert.Equal(SharedNames, counts.Keys.Order().ToArray());
        Assert.True(counts.Values.Max() - counts.Values.Min() <= 1, Describe(counts));
    }

    [Fact]
    public async Task WeightedRoundRobin_ThreeToOne_SplitsTrafficThreeToOne()
    {
        // Weights 3, 1, 1: the heavy backend gets 3/5 and each light one 1/5, interleaved
        // smoothly (a b a c a), so the heavy one never answers three times in a row.
        var sequence = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            sequence.Add(await WhoAnswersAsync(fixture.Url("wrr", $"/wrr/{i.ToString(CultureInfo.InvariantCulture)}")));
        }
        var counts = Count(sequence);
        output.WriteLine(Describe(counts));

        var (heavy, light1, light2) = (SharedNames[0], SharedNames[1], SharedNames[2]);
        Assert.Equal(SharedNames, counts.Keys.Order().ToArray());
        Assert.InRange(counts[heavy] / 200.0, 0.57, 0.63);
        Assert.InRange(counts[light1] / 200.0, 0.17, 0.23);
        Assert.InRange(counts[light2] / 200.0, 0.17, 0.23);
        Assert.InRange(counts[heavy] / (double)counts[light1], 2.7, 3.3);
        Assert.True(LongestRun(sequence, heavy) <= 2, "the heavy backend answered three times in a row: " + string.Join(' ', sequence));
    }

    [Fact]
    public async Task LeastConnections_RequestsHeldInFlight_EachGoesToTheLeastBusyBackend()
    {
        // Requests are sent one at a time and each is held by its backend before the next one is
        // sent, so every pick sees the in-flight counts of the ones before: 1-1-1, then 2-2-2.
        var held = await HoldAsync("lc", 6, after =>
        {
            if (after == 3)
            {
                Assert.All(fixture.Holders, h => Assert.Equal(1, h.Held));
            }
        });

        Assert.All(fixture.Holders, h => Assert.Equal(2, h.Held));
        await ReleaseAsync(held);
    }

    [Fact]
    public async Task WeightedLeastConnections_WeightsThreeOneOne_InFlightFollowsTheWeights()
    {
        // Weights 3, 1, 1 and the load a pick would give, (in flight + 1) / weight: the heavy
        // backend takes the first two; after five, whatever the ties, the split is 3-1-1.
        var (heavy, light1, light2) = (fixture.Holders[0], fixture.Holders[1], fixture.Holders[2]);
        var held = await HoldAsync("wlc", 5, after =>
        {
            if (after == 2)
            {
                Assert.Equal(2, heavy.Held);
            }
        });

        Assert.Equal(3, heavy.Held);
        Assert.Equal(1, light1.Held);
        Assert.Equal(1, light2.Held);
        await ReleaseAsync(held);
    }

    [Fact]
    public async Task LeastResponseTime_OneSlowBackend_LoadMovesToTheFastOnes()
    {
        // The slow backend answers every request after 100 ms, the two sample backends at once.
        // Four clients in parallel; the slow one may take a few requests before its average is
        // known, then loses every comparison.
        const int Workers = 4;
        const int PerWorker = 25;
        var results = await Task.WhenAll(Enumerable.Range(0, Workers).Select(async w =>
        {
            var names = new List<string>();
            for (var i = 0; i < PerWorker; i++)
            {
                names.Add(await WhoAnswersAsync(fixture.Url("lrt", $"/lrt/{w.ToString(CultureInfo.InvariantCulture)}/{i.ToString(CultureInfo.InvariantCulture)}")));
            }
            return names;
        }));
        var counts = Count(results.SelectMany(r => r));
        output.WriteLine(Describe(counts));

        var slow = counts.GetValueOrDefault(fixture.Slow.Name);
        var fast = SharedNames.Take(2).Select(n => counts.GetValueOrDefault(n)).ToArray();
        Assert.Equal(Workers * PerWorker, counts.Values.Sum());
        Assert.All(fast, f => Assert.True(f > slow, Describe(counts)));
        Assert.True(slow <= Workers * PerWorker * 15 / 100, "the slow backend took more than 15%: " + Describe(counts));
    }

    [Fact]
    public async Task Random_ThreeBackends_EveryBackendGetsAShare()
    {
        var counts = await CountAsync("random", 90);

        // Expected 30 each; fewer than 10 has a probability far below one in a million.
        Assert.Equal(SharedNames, counts.Keys.Order().ToArray());
        Assert.All(counts.Values, c => Assert.True(c >= 10, Describe(counts)));
    }

    [Fact]
    public async Task PowerOfTwo_ThreeBackends_EveryBackendGetsAShare()
    {
        var counts = await CountAsync("p2c", 90);

        Assert.Equal(SharedNames, counts.Keys.Order().ToArray());
        Assert.All(counts.Values, c => Assert.True(c >= 10, Describe(counts)));
    }

    [Fact]
    public async Task IpHash_AllRequestsFromOneAddress_LandOnOneBackend()
    {
        var counts = await CountAsync("iphash", 40);

        var only = Assert.Single(counts);
        Assert.Contains(only.Key, SharedNames);
    }

    [Fact]
    public async Task ConsistentHash_HeaderXUser_SameUserAlwaysSameBackend()
    {
        var byUser = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        for (var user = 0; user < 30; user++)
        {
            var id = "user-" + user.ToString(CultureInfo.InvariantCulture);
            byUser[id] = [];
            for (var i = 0; i < 3; i++)
            {
                // A different path each time: only the header counts.
                byUser[id].Add(await WhoAnswersAsync(fixture.Url("chuser", $"/page/{i.ToString(CultureInfo.InvariantCulture)}"), ("x-user", id)));
            }
        }
        output.WriteLine(string.Join(", ", byUser.Select(kv => $"{kv.Key}={string.Join('|', kv.Value)}")));

        Assert.All(byUser, kv => Assert.Single(kv.Value));
        Assert.True(byUser.Values.Select(v => v.Single()).Distinct().Count() > 1, "every user landed on the same backend");
    }

    [Fact]
    public async Task ConsistentHash_Path_SamePathAlwaysSameBackend()
    {
        var byPath = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        for (var p = 0; p < 30; p++)
        {
            var path = $"/items/{p.ToString(CultureInfo.InvariantCulture)}";
            byPath[path] = [];
            for (var i = 0; i < 3; i++)
            {
                // A different user header each time: only the path counts.
                byPath[path].Add(await WhoAnswersAsync(fixture.Url("chpath", path), ("x-user", "u" + i.ToString(CultureInfo.InvariantCulture))));
            }
        }
        output.WriteLine(string.Join(", ", byPath.Select(kv => $"{kv.Key}={string.Join('|', kv.Value)}")));

        Assert.All(byPath, kv => Assert.Single(kv.Value));
        Assert.True(byPath.Values.Select(v => v.Single()).Distinct().Count() > 1, "every path landed on the same backend");
    }

    private async Task<Dictionary<string, int>> CountAsync(string pool, int requests)
    {
        var names = new List<string>(requests);
        for (var i = 0; i < requests; i++)
        {
            names.Add(await WhoAnswersAsync(fixture.Url(pool, $"/{pool}/{i.ToString(CultureInfo.InvariantCulture)}")));
        }
        var counts = Count(names);
        output.WriteLine($"{pool}: {Describe(counts)}");
        return counts;
    }

    private async Task<string> WhoAnswersAsync(string url, (string Name, string Value)? header = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (header is { } h)
        {
            request.Headers.Add(h.Name, h.Value);
        }
        using var response = await fixture.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{url} answered {(int)response.StatusCode}\n{fixture.Cluster.Diagnostics()}");
        return response.Headers.TryGetValues("X-Backend", out var values) ? values.First() : "(no X-Backend)";
    }

    /// <summary>
    /// Sends <paramref name="count"/> requests under /hold/ one after another, each once the one
    /// before is held by a backend (so the agent counts it in flight), and checks after each.
    /// </summary>
    private async Task<List<Task<HttpResponseMessage>>> HoldAsync(string pool, int count, Action<int> check)
    {
        Assert.All(fixture.Holders, h => Assert.Equal(0, h.Held));
        var held = new List<Task<HttpResponseMessage>>();
        try
        {
            for (var i = 1; i <= count; i++)
            {
                held.Add(fixture.Http.GetAsync(fixture.Url(pool, $"/hold/{i.ToString(CultureInfo.InvariantCulture)}")));
                var expected = i;
                await Wait.UntilAsync(
                    () => fixture.Holders.Sum(h => h.Held) == expected,
                    HoldTimeout,
                    $"{expected} requests held by the {pool} backends",
                    fixture.Cluster.Diagnostics);
                output.WriteLine($"{pool} after {i}: " + string.Join(", ", fixture.Holders.Select(h => $"{h.Name}={h.Held}")));
                check(i);
            }
            return held;
        }
        catch
        {
            await ReleaseAsync(held);
            throw;
        }
    }

    private async Task ReleaseAsync(List<Task<HttpResponseMessage>> held)
    {
        foreach (var holder in fixture.Holders)
        {
            holder.ReleaseAll();
        }
        foreach (var response in await Task.WhenAll(held))
        {
            using (response)
            {
                Assert.True(response.IsSuccessStatusCode, $"a held request answered {(int)response.StatusCode}");
            }
        }
        await Wait.UntilAsync(() => fixture.Holders.All(h => h.Held == 0), HoldTimeout, "the held requests to finish");
    }

    private static Dictionary<string, int> Count(IEnumerable<string> names)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }
        return counts;
    }

    private static int LongestRun(List<string> sequence, string name)
    {
        var longest = 0;
        var run = 0;
        foreach (var item in sequence)
        {
            run = item == name ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        return longest;
    }

    private static string Describe(Dictionary<string, int> counts) =>
        string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
}
