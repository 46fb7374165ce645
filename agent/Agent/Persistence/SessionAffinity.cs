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

    /// <summary>
    /// How a request is placed: persistence first (a cookie names its backend; a header or
    /// source-ip session hashes on the sticky table and stays on its owner while that owner
    /// drains), else the pool's algorithm with its hash key. Returns the sticky backend, if any.
    /// </summary>
    public static BackendState? Place<TRequest>(TRequest request, PoolRuntime pool, out ILoadBalancer balancer, out PickContext pickContext)
        where TRequest : IRequestKeys
    {
        var sticky = FindStickyBackend(request, pool);
        balancer = pool.Balancer;
        pickContext = HttpHashKeys.For(request, pool);
        if (pool.StickyBalancer is not null)
        {
            var stickyKey = StickyKey(request, pool);
            if (stickyKey.HasHashKey)
            {
                balancer = pool.StickyBalancer;
                pickContext = stickyKey;
                sticky = pool.StickyOwner(stickyKey);
            }
        }
        return sticky;
    }

    /// <summary>The backend a cookie session is stuck to, if it may still take it.</summary>
    public static BackendState? FindStickyBackend(HttpContext context, PoolRuntime pool) => FindStickyBackend(new ContextRequestKeys(context), pool);

    /// <inheritdoc cref="FindStickyBackend(HttpContext, PoolRuntime)"/>
    public static BackendState? FindStickyBackend<TRequest>(TRequest request, PoolRuntime pool)
        where TRequest : IRequestKeys
    {
        var persistence = pool.Config.SessionPersistence;
        if (persistence is not { Type: "cookie" } || request.Cookie(persistence.CookieName) is not { } value)
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
    public static PickContext StickyKey(HttpContext context, PoolRuntime pool) => StickyKey(new ContextRequestKeys(context), pool);

    /// <inheritdoc cref="StickyKey(HttpContext, PoolRuntime)"/>
    public static PickContext StickyKey<TRequest>(TRequest request, PoolRuntime pool)
        where TRequest : IRequestKeys
    {
        var persistence = pool.Config.SessionPersistence;
        switch (persistence?.Type)
        {
            case "header":
                return HttpHashKeys.ForValue(request.Header(persistence.HeaderName));
            case "source-ip":
                return HttpHashKeys.ForAddress(request.RemoteAddress);
            default:
                return PickContext.None;
        }
    }

    /// <summary>Sticks the client to the backend: the cookie goes out with the response.</summary>
    public static void Stick(HttpContext context, PoolRuntime pool, BackendState backend)
    {
        if (SetCookieFor(pool, backend, context.Request.IsHttps) is { } cookie)
        {
            context.Items[PendingCookieKey] = cookie;
        }
    }

    /// <summary>The Set-Cookie value that sticks a client to the backend; null without cookie persistence.</summary>
    public static string? SetCookieFor(PoolRuntime pool, BackendState backend, bool secure)
    {
        var persistence = pool.Config.SessionPersistence;
        if (persistence is not { Type: "cookie" })
        {
            return null;
        }
        var ttl = persistence.Ttl > TimeSpan.Zero ? persistence.Ttl : TimeSpan.FromHours(1);
        var expires = DateTimeOffset.UtcNow + ttl;
        var cookie = new SetCookieHeaderValue(persistence.CookieName, SessionCookie.Encode(persistence.HmacKey.AsSpan(), pool.Name, backend.Name, expires.ToUnixTimeSeconds()))
        {
            Path = "/",
            HttpOnly = true,
            Secure = secure,
            SameSite = Microsoft.Net.Http.Headers.SameSiteMode.Lax,
            MaxAge = ttl,
        };
        return cookie.ToString();
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
