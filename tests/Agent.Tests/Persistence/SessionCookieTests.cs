using System.Text;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Persistence;
using LoadBalancer.Agent.Pools;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Net.Http.Headers;
using static LoadBalancer.Agent.Tests.Support.TestConfigs;

namespace LoadBalancer.Agent.Tests.Persistence;

public sealed class SessionCookieTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("0123456789abcdef0123456789abcdef");
    private static readonly long Now = DateTimeOffset.Parse("2026-01-01T00:00:00Z").ToUnixTimeSeconds();

    [Fact]
    public void Decode_GenuineCookie_NamesItsBackend()
    {
        var cookie = SessionCookie.Encode(Key, "web", "b2", Now + 60);

        Assert.Equal("b2", SessionCookie.Decode(Key, "web", cookie, Now));
    }

    [Fact]
    public void Decode_TamperedBackendOrMac_IsRejected()
    {
        var cookie = SessionCookie.Encode(Key, "web", "b2", Now + 60);
        var parts = cookie.Split('.');
        var otherBackend = Convert.ToBase64String(Encoding.UTF8.GetBytes("b3")).TrimEnd('=');
        var flippedMac = (parts[2][0] == 'A' ? 'B' : 'A') + parts[2][1..];

        Assert.Null(SessionCookie.Decode(Key, "web", $"{parts[0]}.{otherBackend}.{parts[2]}", Now));
        Assert.Null(SessionCookie.Decode(Key, "web", $"{parts[0]}.{parts[1]}.{flippedMac}", Now));
        // A later expiry with the old MAC: extending a session is forging one.
        Assert.Null(SessionCookie.Decode(Key, "web", $"{Now + 999999}.{parts[1]}.{parts[2]}", Now));
        Assert.Null(SessionCookie.Decode(Key, "web", "garbage", Now));
    }

    [Fact]
    public void Decode_Expired_IsRejected()
    {
        var cookie = SessionCookie.Encode(Key, "web", "b2", Now - 1);

        Assert.Null(SessionCookie.Decode(Key, "web", cookie, Now));
    }

    [Fact]
    public void Decode_AnotherPoolsCookieOrKey_IsRejected()
    {
        var otherKey = Encoding.UTF8.GetBytes("fedcba9876543210fedcba9876543210");
        var otherPoolsCookie = SessionCookie.Encode(otherKey, "api", "b2", Now + 60);

        Assert.Null(SessionCookie.Decode(Key, "web", otherPoolsCookie, Now));
        // Same key but written for another pool name: still not this pool's.
        Assert.Null(SessionCookie.Decode(Key, "web", SessionCookie.Encode(Key, "api", "b2", Now + 60), Now));
    }

    [Theory]
    [InlineData("https", true)]
    [InlineData("http", false)]
    public void Stick_CookieIsSecureOnlyOverHttps_AndMaxAgeIsTheTtl(string scheme, bool secure)
    {
        var ttl = TimeSpan.FromMinutes(45);
        var persistence = new SessionPersistenceConfig("cookie", "lb_session", string.Empty, ttl, new EquatableArray<byte>(Key));
        var registry = new PoolRegistry(new BackendActivity(), NullLogger<PoolRegistry>.Instance, TimeProvider.System);
        registry.Apply([Pool("web", [Backend("b1", 9001)]) with { SessionPersistence = persistence }]);
        var pool = registry.Find("web")!;
        var context = new DefaultHttpContext();
        context.Request.Scheme = scheme;

        SessionAffinity.Stick(context, pool, pool.Backends[0]);
        SessionAffinity.AppendPendingCookie(context);

        var cookie = SetCookieHeaderValue.Parse(context.Response.Headers.SetCookie.ToString());
        Assert.Equal("lb_session", cookie.Name.ToString());
        Assert.Equal(secure, cookie.Secure);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(Microsoft.Net.Http.Headers.SameSiteMode.Lax, cookie.SameSite);
        Assert.Equal(ttl, cookie.MaxAge);
        Assert.Equal("b1", SessionCookie.Decode(Key, "web", cookie.Value.ToString(), DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    }
}
