namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// What the snapshot publisher last compiled for a tier, shown by GetStatus. The sync service
/// replaces the default registration with its own implementation.
/// </summary>
public interface ITierStatusSource
{
    /// <summary>The revision and snapshot hash currently published for <paramref name="tier"/>, or null if none.</summary>
    (long Revision, string Hash)? Get(string tier);

    /// <summary>The tier's snapshot with <paramref name="hash"/> if it is current or still held in recent history.</summary>
    Api.V1.SnapshotData? Find(string tier, string hash);
}

/// <summary>Used until a publisher is registered: no tier has a published snapshot.</summary>
internal sealed class NoTierStatusSource : ITierStatusSource
{
    public (long Revision, string Hash)? Get(string tier) => null;

    public Api.V1.SnapshotData? Find(string tier, string hash) => null;
}
