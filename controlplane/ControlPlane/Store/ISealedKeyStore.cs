namespace LoadBalancer.ControlPlane.Store;

/// <summary>The keys the store holds sealed by the key-encryption key, for the checks at start-up.</summary>
public interface ISealedKeyStore
{
    /// <summary>Certificates' sealed private keys and pools' session-cookie keys (sealed, or bare from older versions), by name.</summary>
    Task<StoredKeys> KeysAsync(CancellationToken cancellationToken = default);

    /// <summary>Replaces each bare session-cookie key with <paramref name="seal"/>(pool, key); returns how many.</summary>
    Task<int> SealBareSessionKeysAsync(Func<string, byte[], byte[]> seal, CancellationToken cancellationToken = default);
}

public sealed record StoredKeys(IReadOnlyList<(string Name, byte[] Blob)> Certificates, IReadOnlyList<(string Name, byte[] Blob)> SessionKeys);
