namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// How long the outage and load tests hold their condition: a few seconds in CI (the behaviour is
/// the same, and the suite must stay within its time budget), the full soak with LB_SOAK=1.
/// </summary>
public static class Soak
{
    public static bool Full { get; } = Environment.GetEnvironmentVariable("LB_SOAK") == "1";

    public static TimeSpan Duration(TimeSpan full, TimeSpan smoke) => Full ? full : smoke;
}
