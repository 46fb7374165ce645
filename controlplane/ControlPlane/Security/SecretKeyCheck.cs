using LoadBalancer.ControlPlane.Store;

namespace LoadBalancer.ControlPlane.Security;

public sealed class SecretKeyException(string message) : Exception(message);

public static class SecretKeyCheck
{
    /// <summary>
    /// Refuses to start when the key-encryption key is not the one the stored private keys were
    /// sealed with (lost, replaced, or a different LB_SECRET_KEY): better a clear stop than
    /// agents receiving certificates that cannot be decrypted. Runs before anything creates a key.
    /// </summary>
    public static async Task CheckSecretKeyAsync(this IServiceProvider services, string dataDir, CancellationToken cancellationToken = default)
    {
        var keys = await services.GetRequiredService<ISealedKeyStore>().KeysAsync(cancellationToken).ConfigureAwait(false);
        var sealedKeys = keys.Certificates.Select(c => (Name: "certificate " + c.Name, c.Blob))
            .Concat(keys.SessionKeys.Where(p => p.Blob.Length != PoolEntity.SessionKeySize).Select(p => (Name: "pool " + p.Name, p.Blob)))
            .ToList();
        if (sealedKeys.Count == 0)
        {
            return;
        }
        var keyFile = Path.Combine(dataDir, SecretProtector.KeyFileName);
        var fromEnvironment = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(SecretProtector.KeyEnvironmentVariable));
        if (!fromEnvironment && !File.Exists(keyFile))
        {
            throw new SecretKeyException($"{keyFile} is missing, but {sealedKeys.Count} key(s) (certificates' private keys, pools' session-cookie keys) are sealed with it: restore it from your backup (or set {SecretProtector.KeyEnvironmentVariable}); a new key could not decrypt them");
        }
        var protector = services.GetRequiredService<SecretProtector>();
        var foreign = sealedKeys.Where(c => !protector.IsSealedByThisKey(c.Blob)).Select(c => c.Name).ToList();
        if (foreign.Count > 0)
        {
            var source = fromEnvironment ? SecretProtector.KeyEnvironmentVariable : keyFile;
            throw new SecretKeyException($"the key-encryption key in {source} is not the one that sealed the keys of {string.Join(", ", foreign.Take(5))}{(foreign.Count > 5 ? ", ..." : "")}: restore the original key");
        }
    }

    /// <summary>
    /// Seals session-cookie keys stored bare by versions before keys were sealed. The key itself
    /// is unchanged, so cookies already issued stay valid and snapshots keep their hash.
    /// </summary>
    public static async Task<int> SealLegacySessionKeysAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        // The protector is resolved only when a bare key is found: resolving it may make a key.
        return await services.GetRequiredService<ISealedKeyStore>()
            .SealBareSessionKeysAsync((pool, key) => services.GetRequiredService<SecretProtector>().ProtectSessionKey(key, pool), cancellationToken).ConfigureAwait(false);
    }
}
