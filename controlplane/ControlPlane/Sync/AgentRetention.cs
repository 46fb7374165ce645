namespace LoadBalancer.ControlPlane.Sync;

/// <summary>
/// How much the control plane keeps of agents: an agent token can invent names, so what a tier
/// may leave behind is bounded in number and in time.
/// </summary>
/// <param name="Expiry">An agent disconnected this long is forgotten with its health view; zero: never.</param>
/// <param name="MaxAgentsPerTier">Agent rows per tier; a new name beyond it takes the place of the
/// agent of that tier gone longest, and is refused if every one is connected.</param>
public sealed record AgentRetention(TimeSpan Expiry, int MaxAgentsPerTier)
{
    public static readonly TimeSpan DefaultExpiry = TimeSpan.FromDays(7);

    public const int DefaultMaxAgentsPerTier = 1000;
}
