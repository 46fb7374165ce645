using System.Globalization;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.History;

/// <summary>The checks every revision argument gets, with messages that say what is kept.</summary>
public static class RevisionArguments
{
    /// <summary>Adds a violation for <paramref name="field"/> unless <paramref name="revision"/> can be reconstructed.</summary>
    public static void Check(string field, long revision, long current, long oldestKept, Violations violations)
    {
        ArgumentNullException.ThrowIfNull(violations);
        if (revision < 0)
        {
            violations.Add(field, "must not be negative");
        }
        else if (revision > current)
        {
            violations.Add(field, string.Create(CultureInfo.InvariantCulture, $"revision {revision} does not exist; the current revision is {current}"));
        }
        else if (revision < oldestKept)
        {
            violations.Add(field, string.Create(CultureInfo.InvariantCulture, $"revision {revision} was compacted; oldest kept is {oldestKept}"));
        }
    }
}
