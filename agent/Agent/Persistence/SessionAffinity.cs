using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;
using LoadBalancer.Agent.Proxy;
using Microsoft.Net.Http.Headers;

namespace LoadBalancer.Agent.Persistence;

/// <summary>
/// Session persistence for HTTP: the first request of a session is placed by the pool's
/// algorithm, later ones by the session. Cookie sessions name their backend (signed); header
/// and source-ip sessions map through consistent hashing, so every agent agrees without
/// shared state.
/// </summary>
internal static class SessionAffinity
{
    private const string PendingCookieKey = "lb.session-cookie";

    /// <summary>The backend a cookie session is stuck to, if it may still take it.</summary>
    public static BackendState? FindStickyBackend(HttpContext context, PoolRuntime pool)
    {
        var persistence = pool.Config.SessionPersistence;
        if (persistence is not { Type: "cookie" }
            || !context.Request.Cookies.TryGetValue(persistence.CookieName, out var value))
        {
            return null;
        }
        var name = SessionCookie.Decode(persistence.HmacKey.AsSpan(), pool.Name, value, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        if (name is null)
        {
            return null;
        }
        foreach (var backend in pool.Backends)
        {
            if (backend.Name == name)
            {
                return backend.AcceptsStickySession ? backend : null;
            }
        }
        return null;
    }

    /// <summary>For header and source-ip persistence, the key every agent hashes the same way.</summary>
    public static PickContext StickyKey(HttpContext context, PoolRuntime pool)
    {
        var persistence = pool.Config.SessionPersistence;
        switch (persistence?.Type)
        {
            case "header":
                var header = context.Request.Headers[persistence.HeaderName];
                return header.Count == 0 || string.IsNullOrEmpty(header[0])
                    ? PickContext.None
                    : new PickContext(StableHash.Hash(header[0].AsSpan()));
            case "source-ip":
                return HttpHashKeys.ForAddress(context.Connection.RemoteIpAddress);
            default:
                return PickContext.None;
        }
    }

    /// <summary>Sticks the client to the backend: the cookie goes out with the response.</summary>
    public static void Stick(HttpContext context, PoolRuntime pool, BackendState backend)
    {
        var persistence = pool.Config.SessionPersistence;
        if (persistence is not { Type: "cookie" })
        {
            return;
        }
        var ttl = persistence.Ttl > TimeSpan.Zero ? persistence.Ttl : TimeSpan.FromHours(1);
        var expires = DateTimeOffset.UtcNow + ttl;
        var cookie = new SetCookieHeaderValue(persistence.CookieName, SessionCookie.Encode(persistence.HmacKey.AsSpan(), pool.Name, backend.Name, expires.ToUnixTimeSeconds()))
        {
            Path = "/",
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            SameSite = Microsoft.Net.Http.Headers.SameSiteMode.Lax,
            MaxAge = ttl,
        };
        context.Items[PendingCookieKey] = cookie.ToString();
    }

    public static void Forget(HttpContext context) => context.Items.Remove(PendingCookieKey);

    /// <summary>Called by the response transform: adds the cookie after the backend's own headers.</summary>
    public static void AppendPendingCookie(HttpContext context)
    {
        if (context.Items.TryGetValue(PendingCookieKey, out var cookie) && cookie is string value)
        {
            context.Response.Headers.Append(HeaderNames.SetCookie, value);
        }
    }
}
