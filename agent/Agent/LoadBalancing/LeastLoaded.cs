namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The scan behind least-connections and weighted-least-connections.
/// </summary>
/// <remarks>
/// The scan starts at a random backend so that ties (typically: everything idle) are broken
/// randomly rather than always favouring the first backend. It looks at no more than
/// <see cref="Window"/> eligible backends: exact for pools up to that size, and for larger pools
/// the best of a random window, which keeps a pick cheap (in-flight counts live on separate
/// objects, so a full scan of 10,000 backends costs microseconds) and, like power-of-d choices,
/// still balances well while sparing many agents from herding onto one idle backend.
/// </remarks>
internal static class LeastLoaded
{
    public const int Window = 32;

    public static BackendState? Pick(BackendState[] backends, bool failOpen, bool weighted)
    {
        var count = backends.Length;
        if (count == 0)
        {
            return null;
        }

        BackendState? best = null;
        long bestLoad = 0;
        long bestWeight = 1;
        var seen = 0;
        var index = Random.Shared.Next(count);
        for (var i = 0; i < count; i++)
        {
            var candidate = backends[index];
            if (++index == count)
            {
                index = 0;
            }
            if (!Eligibility.IsEligible(candidate, failOpen))
            {
                continue;
            }

            // Weighted: compare (inFlight + 1) / weight, the load this backend would carry after
            // the pick, so that among idle backends the heavier one wins. Cross-multiplied to stay
            // in integers; weights are read live, so a weight change counts from the next pick.
            var inFlight = Math.Max(0, candidate.InFlight);
            long load = weighted ? inFlight + 1 : inFlight;
            long weight = weighted ? Math.Max(1, candidate.Weight) : 1;
            if (best is null || load * bestWeight < bestLoad * weight)
            {
                best = candidate;
                bestLoad = load;
                bestWeight = weight;
            }
            if (++seen == Window)
            {
                break;
            }
        }
        return best;
    }
}
