using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>TokenService against a real migrated SQLite store and a fake clock.</summary>
public sealed class TokenServiceTests : IAsyncLifetime
{
    private static readonly Caller Creator = new("t-creator0000", Roles.Admin, "", null, "10.0.0.9");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    private StoreFixture _store = null!;
    private TokenService _tokens = null!;

    public async Task InitializeAsync()
    {
        _store = await StoreFixture.CreateAsync();
        _tokens = NewService();
    }

    public async Task DisposeAsync()
    {
        _tokens.Dispose();
        await _store.DisposeAsync();
    }

    private string AdminTokenPath => Path.Combine(_store.Directory, TokenService.AdminTokenFileName);

    [Fact]
    public async Task Create_GivesAnLbtBearer_WithAtLeast128SecretBits_AndAPublicId()
    {
        var (row, bearer) = await _tokens.CreateAsync("viewer", "", "ci dashboard", null, Creator);
        var (_, other) = await _tokens.CreateAsync("viewer", "", "", null, Creator);

        Assert.StartsWith("lbt_" + row.Id + "_", bearer, StringComparison.Ordinal);
        Assert.Matches("^t-[0-9a-f]{12}$", row.Id);
        Assert.True(TokenFormat.TryParse(bearer, out var id, out var secret));
        Assert.Equal(row.Id, id);
        Assert.True(Base64Url.DecodeFromChars(secret).Length * 8 >= 128, $"secret of {secret.Length} characters is under 128 bits");
        Assert.NotEqual(bearer, other);
        Assert.Equal("viewer", row.Role);
        Assert.Equal("ci dashboard", row.Description);
        Assert.Equal(Creator.TokenId, row.CreatedBy);
        Assert.Equal(_time.GetUtcNow().UtcDateTime, row.CreatedAt);
        Assert.Null(row.ExpiresAt);
    }

    [Fact]
    public async Task Create_StoresOnlyTheSha256OfTheSecret()
    {
        var (row, bearer) = await _tokens.CreateAsync("agent", "edge", "", "90d", Creator);
        TokenFormat.TryParse(bearer, out _, out var secret);

        var stored = await _store.WithDbAsync(db => db.Tokens.AsNoTracking().SingleAsync(t => t.Id == row.Id));

        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(secret)), stored.SecretHash);
        var everyColumn = string.Join("|", stored.Id, stored.Role, stored.Tier, stored.Description, stored.CreatedBy, Convert.ToBase64String(stored.SecretHash), Convert.ToHexString(stored.SecretHash));
        Assert.DoesNotContain(secret, everyColumn, StringComparison.Ordinal);
        var databaseBytes = ReadDatabaseFiles();
        Assert.True(databaseBytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, "the secret is in the database file");
        Assert.True(databaseBytes.AsSpan().IndexOf(Base64Url.DecodeFromChars(secret)) < 0, "the secret's bytes are in the database file");
        Assert.True(databaseBytes.AsSpan().IndexOf(stored.SecretHash) >= 0, "the hash is not in the database file: the search reads the wrong file");
    }

    [Fact]
    public async Task Authenticate_TheBearer_GivesTheCaller()
    {
        var (row, bearer) = await _tokens.CreateAsync("agent", "Edge", "", "12h", Creator);

        var caller = _tokens.Authenticate(bearer, "192.0.2.1");

        Assert.Equal(new Caller(row.Id, Roles.Agent, "edge", _time.GetUtcNow().UtcDateTime.AddHours(12), "192.0.2.1"), caller);
        Assert.True(_tokens.IsUsable(row.Id));
    }

    [Fact]
    public async Task Authenticate_RefusesEveryOneCharacterChange()
    {
        var (_, bearer) = await _tokens.CreateAsync("admin", "", "", null, Creator);

        for (var i = 0; i < bearer.Length; i++)
        {
            var replacement = bearer[i] == 'A' ? 'B' : 'A';
            var changed = bearer[..i] + replacement + bearer[(i + 1)..];
            AssertUnauthenticated(() => _tokens.Authenticate(changed, "192.0.2.1"), $"position {i}");
        }
        AssertUnauthenticated(() => _tokens.Authenticate(bearer[..^1], "192.0.2.1"), "one character shorter");
        AssertUnauthenticated(() => _tokens.Authenticate(bearer + "A", "192.0.2.1"), "one character longer");
        _tokens.Authenticate(bearer, "192.0.2.1");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("lbt_t-000000000000_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U")]
    [InlineData("lbt_")]
    [InlineData("lbt__secret")]
    [InlineData("lbt_t-000000000000_")]
    [InlineData("Bearer lbt_t-000000000000_x")]
    [InlineData("not a token at all")]
    public void Authenticate_RefusesUnknownOrMalformedTokens(string? bearer)
    {
        AssertUnauthenticated(() => _tokens.Authenticate(bearer, "192.0.2.1"), bearer ?? "null");
    }

    [Fact]
    public async Task Authenticate_RefusesAnUnknownIdWithARealSecret()
    {
        var (_, bearer) = await _tokens.CreateAsync("viewer", "", "", null, Creator);
        TokenFormat.TryParse(bearer, out _, out var secret);

        AssertUnauthenticated(() => _tokens.Authenticate(TokenFormat.Compose("t-000000000000", secret), "192.0.2.1"), "unknown id");
    }

    [Fact]
    public async Task Authenticate_RefusesARevokedToken()
    {
        var (row, bearer) = await _tokens.CreateAsync("viewer", "", "", null, Creator);

        await _tokens.RevokeAsync(row.Id, Creator);

        var ex = AssertUnauthenticated(() => _tokens.Authenticate(bearer, "192.0.2.1"), "revoked");
        Assert.Contains("revoked", ex.Status.Detail, StringComparison.Ordinal);
        Assert.False(_tokens.IsUsable(row.Id));
    }

    [Fact]
    public async Task Authenticate_RefusesAnExpiredToken_OnceTheClockPassesTheTtl()
    {
        var (row, bearer) = await _tokens.CreateAsync("viewer", "", "", "30m", Creator);

        _time.Advance(TimeSpan.FromMinutes(29));
        _tokens.Authenticate(bearer, "192.0.2.1");
        _time.Advance(TimeSpan.FromMinutes(1));

        var ex = AssertUnauthenticated(() => _tokens.Authenticate(bearer, "192.0.2.1"), "expired");
        Assert.Contains("expired", ex.Status.Detail, StringComparison.Ordinal);
        Assert.False(_tokens.IsUsable(row.Id));
    }

    [Fact]
    public async Task Watch_IsCancelledAtOnce_WhenTheTokenIsRevoked()
    {
        var (row, bearer) = await _tokens.CreateAsync("agent", "edge", "", null, Creator);
        var caller = _tokens.Authenticate(bearer, "192.0.2.1");
        using var watch = _tokens.Watch(caller, CancellationToken.None);
        using var secondStream = _tokens.Watch(caller, CancellationToken.None);
        Assert.False(watch.Token.IsCancellationRequested);

        await _tokens.RevokeAsync(row.Id, Creator);

        Assert.True(watch.Token.IsCancellationRequested);
        Assert.True(secondStream.Token.IsCancellationRequested);
        // A stream opened afterwards with the old caller is cancelled from the start.
        using var late = _tokens.Watch(caller, CancellationToken.None);
        Assert.True(late.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task Watch_OfAnotherToken_IsNotCancelledByARevoke()
    {
        var (_, keep) = await _tokens.CreateAsync("agent", "edge", "", null, Creator);
        var (revoked, _) = await _tokens.CreateAsync("agent", "edge", "", null, Creator);
        using var watch = _tokens.Watch(_tokens.Authenticate(keep, "192.0.2.1"), CancellationToken.None);

        await _tokens.RevokeAsync(revoked.Id, Creator);

        Assert.False(watch.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task Watch_IsCancelledWhenTheClockPassesTheExpiry()
    {
        var (_, bearer) = await _tokens.CreateAsync("agent", "edge", "", "1h", Creator);
        using var watch = _tokens.Watch(_tokens.Authenticate(bearer, "192.0.2.1"), CancellationToken.None);

        _time.Advance(TimeSpan.FromMinutes(59));
        Assert.False(watch.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.True(watch.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task Watch_OfATokenValidFor90Days_WorksAndEndsAtExpiry()
    {
        var (_, bearer) = await _tokens.CreateAsync("agent", "edge", "", "90d", Creator);
        var caller = _tokens.Authenticate(bearer, "192.0.2.1");

        using var watch = _tokens.Watch(caller, CancellationToken.None);

        Assert.False(watch.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromDays(90));
        Assert.True(watch.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task Watch_FollowsTheCallsOwnCancellation()
    {
        var (_, bearer) = await _tokens.CreateAsync("agent", "edge", "", null, Creator);
        using var call = new CancellationTokenSource();
        using var watch = _tokens.Watch(_tokens.Authenticate(bearer, "192.0.2.1"), call.Token);

        await call.CancelAsync();

        Assert.True(watch.Token.IsCancellationRequested);
    }

    public static TheoryData<string, string, string, string?, string> InvalidRequests() => new()
    {
        { "", "", "", null, "role" },
        { "root", "", "", null, "role" },
        { "agent", "", "", null, "tier" },
        { "agent", "Not_A_Label", "", null, "tier" },
        { "viewer", "edge", "", null, "tier" },
        { "viewer", "", "", "abc", "ttl" },
        { "viewer", "", "", "30s", "ttl" },
        { "viewer", "", "", "400d", "ttl" },
        { "viewer", "", "", "-1h", "ttl" },
        { "viewer", "", new string('d', 257), null, "description" },
        { "viewer", "", "line\nbreak", null, "description" },
        { "viewer", "", "bell\u0007", null, "description" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Create_InvalidInput_IsAViolationNamingTheField_AndStoresNothing(string role, string tier, string description, string? ttl, string field)
    {
        await RpcAssert.FieldViolationAsync(() => _tokens.CreateAsync(role, tier, description, ttl, Creator), field);

        Assert.Equal(0, await _store.WithDbAsync(db => db.Tokens.CountAsync()));
        Assert.Equal(0, await _store.WithDbAsync(db => db.ChangeLog.CountAsync()));
    }

    [Fact]
    public async Task Create_AcceptsTheTtlBounds()
    {
        var (shortest, _) = await _tokens.CreateAsync("viewer", "", "", "1m", Creator);
        var (longest, _) = await _tokens.CreateAsync("viewer", "", "", "365d", Creator);

        Assert.Equal(_time.GetUtcNow().UtcDateTime.AddMinutes(1), shortest.ExpiresAt);
        Assert.Equal(_time.GetUtcNow().UtcDateTime.AddDays(365), longest.ExpiresAt);
    }

    [Fact]
    public async Task Initialize_EmptyStore_WritesAnAdminTokenFile_OwnerOnly()
    {
        var path = await _tokens.InitializeAsync(_store.Directory);

        Assert.Equal(AdminTokenPath, path);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(AdminTokenPath));
        }
        var bearer = (await File.ReadAllTextAsync(AdminTokenPath)).Trim();
        var caller = _tokens.Authenticate(bearer, "127.0.0.1");
        Assert.Equal(Roles.Admin, caller.Role);
        Assert.Null(caller.ExpiresAt);
        var row = await _store.WithDbAsync(db => db.Tokens.AsNoTracking().SingleAsync());
        Assert.Equal("bootstrap", row.CreatedBy);
        Assert.Empty(Directory.GetFiles(_store.Directory, "*.tmp-*"));
    }

    [Fact]
    public async Task Initialize_WithAUsableAdminToken_WritesNothing()
    {
        await _tokens.InitializeAsync(_store.Directory);
        var bearer = (await File.ReadAllTextAsync(AdminTokenPath)).Trim();
        File.Delete(AdminTokenPath);

        // A restart: a new service over the same store.
        using var restarted = NewService();
        var path = await restarted.InitializeAsync(_store.Directory);

        Assert.Null(path);
        Assert.False(File.Exists(AdminTokenPath));
        Assert.Equal(1, await _store.WithDbAsync(db => db.Tokens.CountAsync()));
        Assert.Equal(Roles.Admin, restarted.Authenticate(bearer, "127.0.0.1").Role);
    }

    [Fact]
    public async Task Initialize_AfterEveryAdminTokenIsRevoked_WritesANewOne()
    {
        await _tokens.InitializeAsync(_store.Directory);
        var first = (await File.ReadAllTextAsync(AdminTokenPath)).Trim();
        var (second, _) = await _tokens.CreateAsync("admin", "", "", null, Creator);
        await _tokens.CreateAsync("viewer", "", "", null, Creator);
        TokenFormat.TryParse(first, out var firstId, out _);
        await _tokens.RevokeAsync(firstId, Creator);

        using (var stillOneAdmin = NewService())
        {
            Assert.Null(await stillOneAdmin.InitializeAsync(_store.Directory));
        }
        await _tokens.RevokeAsync(second.Id, Creator);
        using var restarted = NewService();
        var path = await restarted.InitializeAsync(_store.Directory);

        Assert.Equal(AdminTokenPath, path);
        var fresh = (await File.ReadAllTextAsync(AdminTokenPath)).Trim();
        Assert.NotEqual(first, fresh);
        Assert.Equal(Roles.Admin, restarted.Authenticate(fresh, "127.0.0.1").Role);
        AssertUnauthenticated(() => restarted.Authenticate(first, "127.0.0.1"), "the revoked first token");
    }

    [Fact]
    public async Task Initialize_WhenTheOnlyAdminTokenHasExpired_WritesANewOne()
    {
        var (admin, _) = await _tokens.CreateAsync("admin", "", "", "1h", Creator);
        using (var beforeExpiry = NewService())
        {
            Assert.Null(await beforeExpiry.InitializeAsync(_store.Directory));
        }

        _time.Advance(TimeSpan.FromHours(1));
        using var restarted = NewService();

        Assert.Equal(AdminTokenPath, await restarted.InitializeAsync(_store.Directory));
        Assert.False(restarted.IsUsable(admin.Id));
    }

    [Fact]
    public async Task CreateAndRevoke_AreAudited_AsKindToken()
    {
        var (row, _) = await _tokens.CreateAsync("viewer", "", "", null, Creator);
        _time.Advance(TimeSpan.FromMinutes(5));
        var revoker = new Caller("t-revoker0000", Roles.Admin, "", null, "10.0.0.10");

        var revoked = await _tokens.RevokeAsync(row.Id, revoker);
        await _tokens.RevokeAsync(row.Id, revoker);

        Assert.Equal(_time.GetUtcNow().UtcDateTime, revoked.RevokedAt);
        var audit = await _store.WithDbAsync(db => db.ChangeLog.AsNoTracking().OrderBy(e => e.Id).ToListAsync());
        Assert.Collection(audit,
            create =>
            {
                Assert.Equal(("Token", row.Id, "create"), (create.Kind, create.Name, create.Operation));
                Assert.Equal((Creator.TokenId, Roles.Admin, Creator.Peer), (create.ActorTokenId, create.ActorRole, create.Peer));
                Assert.Equal(0, create.Revision);
                Assert.Equal(row.CreatedAt, create.At);
            },
            revoke =>
            {
                Assert.Equal(("Token", row.Id, "revoke"), (revoke.Kind, revoke.Name, revoke.Operation));
                Assert.Equal((revoker.TokenId, revoker.Peer), (revoke.ActorTokenId, revoke.Peer));
                Assert.Equal(revoked.RevokedAt, revoke.At);
            });
        // Tokens never move the configuration revision.
        Assert.Equal(0, await _store.RevisionAsync());
    }

    [Fact]
    public async Task Revoke_UnknownId_IsNotFound_AndAnEmptyId_NamesTheField()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _tokens.RevokeAsync("t-000000000000", Creator));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        await RpcAssert.FieldViolationAsync(() => _tokens.RevokeAsync("  ", Creator), "id");
        await RpcAssert.FieldViolationAsync(() => _tokens.RevokeAsync(new string('t', 65), Creator), "id");
        Assert.Equal(0, await _store.WithDbAsync(db => db.ChangeLog.CountAsync()));
    }

    [Fact]
    public async Task List_HidesRevokedAndExpired_UnlessAll_NewestFirst()
    {
        var (old, _) = await _tokens.CreateAsync("viewer", "", "old", null, Creator);
        _time.Advance(TimeSpan.FromMinutes(1));
        var (revoked, _) = await _tokens.CreateAsync("viewer", "", "revoked", null, Creator);
        _time.Advance(TimeSpan.FromMinutes(1));
        var (expiring, _) = await _tokens.CreateAsync("viewer", "", "expiring", "1m", Creator);
        _time.Advance(TimeSpan.FromMinutes(1));
        var (newest, _) = await _tokens.CreateAsync("viewer", "", "newest", null, Creator);
        await _tokens.RevokeAsync(revoked.Id, Creator);

        Assert.Equal([newest.Id, old.Id], (await _tokens.ListAsync(all: false)).Select(t => t.Id));
        Assert.Equal([newest.Id, expiring.Id, revoked.Id, old.Id], (await _tokens.ListAsync(all: true)).Select(t => t.Id));
    }

    private TokenService NewService() => new(_store.Tokens, _time, NullLogger<TokenService>.Instance);

    private static RpcException AssertUnauthenticated(Action action, string because)
    {
        var ex = Assert.Throws<RpcException>(action);
        Assert.True(ex.StatusCode == StatusCode.Unauthenticated, $"{because}: {ex.StatusCode} {ex.Status.Detail}");
        return ex;
    }

    private byte[] ReadDatabaseFiles()
    {
        var bytes = new List<byte>();
        foreach (var path in new[] { Path.Combine(_store.Directory, "lb.db"), Path.Combine(_store.Directory, "lb.db-wal") })
        {
            if (File.Exists(path))
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var content = new byte[stream.Length];
                stream.ReadExactly(content);
                bytes.AddRange(content);
            }
        }
        return [.. bytes];
    }
}
