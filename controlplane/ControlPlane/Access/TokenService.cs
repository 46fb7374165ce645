using System.Collections.Concurrent;
using System.Security.Cryptography;
using Grpc.Core;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Access;

/// <summary>
/// Issues, checks and revokes API tokens. Every token is cached in memory (a few rows), so a
/// call is authenticated without a database read, and a revoke takes effect at once for new
/// calls and, through <see cref="Watch"/>, for open streams.
/// </summary>
public sealed partial class TokenService(ITokenStore store, TimeProvider time, ILogger<TokenService> logger) : IDisposable
{
    public const string AdminTokenFileName = "admin.token";
    private const int MaxDescriptionLength = 256;
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxWatch = TimeSpan.FromDays(20);

    private sealed record Entry(string Id, byte[] Hash, string Role, string Tier, DateTime? ExpiresAt, DateTime? RevokedAt);

    private readonly ConcurrentDictionary<string, Entry> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _revocations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _lastUsed = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    /// <summary>Loads every token; when no admin token can be used, makes one and writes it to DATA/admin.token.</summary>
    public async Task<string?> InitializeAsync(string dataDir, CancellationToken cancellationToken = default)
    {
        foreach (var row in await store.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            _tokens[row.Id] = ToEntry(row);
        }
        var now = Now;
        if (_tokens.Values.Any(t => t.Role == Roles.Admin && IsUsable(t, now)))
        {
            return null;
        }
        // First start, or every admin token was revoked or expired: whoever can read the data
        // folder can get back in, nobody else.
        var (_, secret) = await CreateAsync(Roles.Admin, "", "bootstrap admin token", null,
            new Caller("bootstrap", Roles.Admin, "", null, "local"), cancellationToken).ConfigureAwait(false);
        var path = Path.Combine(dataDir, AdminTokenFileName);
        OwnerOnlyFile.WriteAtomically(path, secret + "\n");
        return path;
    }

    /// <summary>The caller for a bearer token, or an UNAUTHENTICATED error saying why not.</summary>
    public Caller Authenticate(string? bearerToken, string peer)
    {
        if (string.IsNullOrEmpty(bearerToken))
        {
            throw Unauthenticated("no bearer token: send 'authorization: Bearer TOKEN'");
        }
        if (!TokenFormat.TryParse(bearerToken, out var id, out var secret) || !_tokens.TryGetValue(id, out var entry))
        {
            throw Unauthenticated("the bearer token is not valid");
        }
        if (!CryptographicOperations.FixedTimeEquals(entry.Hash, TokenFormat.Hash(secret)))
        {
            throw Unauthenticated("the bearer token is not valid");
        }
        var now = Now;
        if (entry.RevokedAt is not null)
        {
            throw Unauthenticated($"token {id} was revoked");
        }
        if (entry.ExpiresAt <= now)
        {
            throw Unauthenticated($"token {id} expired");
        }
        _lastUsed[id] = now;
        return new Caller(id, entry.Role, entry.Tier, entry.ExpiresAt, peer);
    }

    /// <summary>
    /// A source cancelled when the caller's token is revoked or expires; streams link to it so
    /// that a revoked token stops working on a call that is already open. Dispose it after use.
    /// </summary>
    public TokenWatch Watch(Caller caller, CancellationToken callCancelled)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var revoked = _revocations.GetOrAdd(caller.TokenId, _ => new CancellationTokenSource());
        // The expiry timer runs on the service's clock, so tests can move time instead of waiting.
        // Timers cannot run past ~49 days; a longer-lived token's stream is recycled after
        // MaxWatch instead (the agent reconnects and is checked again), which is harmless.
        var expiry = caller.ExpiresAt is { } expires
            ? new CancellationTokenSource(Min(Max(expires - Now, TimeSpan.Zero), MaxWatch), time)
            : new CancellationTokenSource();
        var linked = CancellationTokenSource.CreateLinkedTokenSource(callCancelled, revoked.Token, expiry.Token);
        if (!IsUsable(caller.TokenId))
        {
            linked.Cancel();
        }
        return new TokenWatch(linked, expiry);
    }

    /// <summary>Whether the token is still good (streams check this to tell revocation from other cancellation).</summary>
    public bool IsUsable(string tokenId) => _tokens.TryGetValue(tokenId, out var entry) && IsUsable(entry, Now);

    public async Task<(TokenEntity Token, string Bearer)> CreateAsync(string role, string tier, string description, string? ttl, Caller creator, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(creator);
        role = (role ?? "").Trim().ToLowerInvariant();
        tier = (tier ?? "").Trim().ToLowerInvariant();
        description = (description ?? "").Trim();
        var violations = new List<(string, string)>();
        if (!Roles.IsKnown(role))
        {
            violations.Add(("role", role.Length == 0 ? "required: admin, viewer or agent" : $"'{SpecValidator.Clip(role)}' is not a role: admin, viewer or agent"));
        }
        if (role == Roles.Agent && !Names.IsDnsLabel(tier))
        {
            violations.Add(("tier", tier.Length == 0 ? "required for an agent token" : $"'{SpecValidator.Clip(tier)}' is not a DNS label"));
        }
        if (role != Roles.Agent && tier.Length > 0)
        {
            violations.Add(("tier", "only agent tokens are bound to a tier"));
        }
        if (description.Length > MaxDescriptionLength || description.Any(char.IsControl))
        {
            violations.Add(("description", $"at most {MaxDescriptionLength} characters, no control characters"));
        }
        TimeSpan? lifetime = null;
        if (!string.IsNullOrEmpty(ttl))
        {
            if (Durations.TryParse(ttl, out var parsed) && parsed >= TimeSpan.FromMinutes(1))
            {
                lifetime = parsed;
            }
            else
            {
                violations.Add(("ttl", $"'{SpecValidator.Clip(ttl)}' must be a duration from 1m to 365d, e.g. 90d or 12h (empty: never expires)"));
            }
        }
        if (violations.Count > 0)
        {
            throw Violations.ToException(violations);
        }

        var now = Now;
        var secret = TokenFormat.NewSecret();
        var row = new TokenEntity
        {
            Id = TokenFormat.NewId(),
            SecretHash = TokenFormat.Hash(secret),
            Role = role,
            Tier = role == Roles.Agent ? tier : "",
            Description = description,
            CreatedBy = creator.TokenId,
            CreatedAt = now,
            ExpiresAt = lifetime is { } l ? now + l : null,
        };
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.AddAsync(row, creator, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
        _tokens[row.Id] = ToEntry(row);
        LogCreated(row.Id, row.Role, row.Tier, creator.TokenId);
        return (row, TokenFormat.Compose(row.Id, secret));
    }

    public async Task<TokenEntity> RevokeAsync(string id, Caller caller, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        id = (id ?? "").Trim();
        if (id.Length == 0 || id.Length > 64)
        {
            throw Violations.Single("id", id.Length == 0 ? "required" : "at most 64 characters");
        }
        TokenEntity row;
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (found, revokedNow) = await store.RevokeAsync(id, Now, caller, cancellationToken).ConfigureAwait(false);
            row = found ?? throw new RpcException(new Status(StatusCode.NotFound, $"token {SpecValidator.Clip(id)} not found"));
            if (!revokedNow)
            {
                return row;
            }
        }
        finally
        {
            _writeLock.Release();
        }
        _tokens[row.Id] = ToEntry(row);
        if (_revocations.TryRemove(row.Id, out var revoked))
        {
            await revoked.CancelAsync().ConfigureAwait(false);
            revoked.Dispose();
        }
        LogRevoked(row.Id, caller.TokenId);
        return row;
    }

    public async Task<IReadOnlyList<TokenEntity>> ListAsync(bool all, CancellationToken cancellationToken = default)
    {
        var rows = await store.ListAsync(cancellationToken).ConfigureAwait(false);
        var now = Now;
        foreach (var row in rows)
        {
            WithLastUse(row);
        }
        return [.. rows.Where(r => all || (r.RevokedAt is null && (r.ExpiresAt is null || r.ExpiresAt > now))).OrderByDescending(r => r.CreatedAt).ThenBy(r => r.Id)];
    }

    /// <summary>One token's row (no secret), or null.</summary>
    public async Task<TokenEntity?> FindAsync(string id, CancellationToken cancellationToken = default)
    {
        var row = await store.FindAsync(id, cancellationToken).ConfigureAwait(false);
        return row is null ? null : WithLastUse(row);
    }

    /// <summary>Overlays the last use seen in memory, which reaches the store only once a minute.</summary>
    private TokenEntity WithLastUse(TokenEntity row)
    {
        if (_lastUsed.TryGetValue(row.Id, out var used) && (row.LastUsedAt is null || used > row.LastUsedAt))
        {
            row.LastUsedAt = used;
        }
        return row;
    }

    /// <summary>Writes last-use times to the store, to the minute, so that they survive a restart.</summary>
    public async Task FlushLastUsedAsync(CancellationToken cancellationToken)
    {
        if (_lastUsed.IsEmpty)
        {
            return;
        }
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.SaveLastUsedAsync(new Dictionary<string, DateTime>(_lastUsed, StringComparer.Ordinal), LastUsedResolution, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Dispose()
    {
        _writeLock.Dispose();
        foreach (var source in _revocations.Values)
        {
            source.Dispose();
        }
    }

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static bool IsUsable(Entry entry, DateTime now) => entry.RevokedAt is null && (entry.ExpiresAt is null || entry.ExpiresAt > now);

    private static Entry ToEntry(TokenEntity row) => new(row.Id, row.SecretHash, row.Role, row.Tier, row.ExpiresAt, row.RevokedAt);

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Token {Id} created: role {Role} {Tier} by {Creator}")]
    private partial void LogCreated(string id, string role, string tier, string creator);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Token {Id} revoked by {Caller}")]
    private partial void LogRevoked(string id, string caller);
}

/// <summary>Cancelled when the watched token is revoked or expires, or the call ends.</summary>
public sealed class TokenWatch(CancellationTokenSource linked, CancellationTokenSource expiry) : IDisposable
{
    public CancellationToken Token => linked.Token;

    public void Dispose()
    {
        linked.Dispose();
        expiry.Dispose();
    }
}
