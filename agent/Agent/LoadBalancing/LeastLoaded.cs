namespace LoadBalancer.Agent.LoadBalancing;

/// <summary>
/// The scan behind least-connections and weighted-least-connections.
/// </summary>
/// <remarks>
/// The scan starts at a random backend so that ties (typically: everything idle) are broken
/// randomly rather than always favouring the first backend. It looks at no more than
/// <see cref="Window"/> eligible backends: exact for pools up to that size, and for larger pools
/// the best of a random window, which keeps a pick cheap (in-flight counts live on separate
/// objects and each comparison is an unpredictable branch: a full scan of 1,000 backends costs
/// microseconds) and, like power-of-d choices (Envoy's least-request samples just two), still
/// balances well while sparing many agents from herding onto one idle backend.
/// </remarks>
internal static class LeastLoaded
{
    public const int Window = 16;

    public static BackendState? Pick(BackendState[] backends, bool failOpen, bool weighted, long maxWeight = long.MaxValue)
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

            var inFlight = Math.Max(0, candidate.InFlight);
            if (!weighted)
            {
                // Nothing beats an idle backend, and the random start already broke the tie.
                if (inFlight == 0)
                {
                    return candidate;
                }
                if (best is null || inFlight < bestLoad)
                {
                    best = candidate;
                    bestLoad = inFlight;
                }
            }
            else
            {
                // Compare (inFlight + 1) / weight, the load this backend would carry after the
                // pick, so that among idle backends the heavier one wins. Cross-multiplied to stay
                // in integers; weights are read live, so a weight change counts from the next pick.
                var load = inFlight + 1;
                long weight = Math.Max(1, candidate.Weight);
                // An idle backend of the pool's greatest weight cannot be beaten.
                if (inFlight == 0 && weight >= maxWeight)
                {
                    return candidate;
                }
                if (best is null || load * bestWeight < bestLoad * weight)
                {
                    best = candidate;
                    bestLoad = load;
                    bestWeight = weight;
                }
            }
            if (++seen == Window)
            {
                break;
            }
        }
        return best;
    }
}
