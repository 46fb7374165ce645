using System.Net;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The parts of a request that hashing and session persistence read, whichever path parsed it
/// (Kestrel's <see cref="HttpContext"/> or the HTTP/1.1 fast path), so both decide alike.
/// </summary>
internal interface IRequestKeys
{
    IPAddress? RemoteAddress { get; }

    bool IsHttps { get; }

    /// <summary>The request path without its query, as routing sees it.</summary>
    string Path { get; }

    /// <summary>The first value of a header, or null when absent.</summary>
    string? Header(string name);

    /// <summary>The value of a request cookie, or null when absent.</summary>
    string? Cookie(string name);
}

/// <summary>The Kestrel request seen through <see cref="IRequestKeys"/>; a struct, so nothing is allocated.</summary>
internal readonly struct ContextRequestKeys(HttpContext context) : IRequestKeys
{
    public IPAddress? RemoteAddress => context.Connection.RemoteIpAddress;

    public bool IsHttps => context.Request.IsHttps;

    public string Path => context.Request.Path.Value ?? "/";

    public string? Header(string name)
    {
        var values = context.Request.Headers[name];
        return values.Count == 0 ? null : values[0];
    }

    public string? Cookie(string name) => context.Request.Cookies.TryGetValue(name, out var value) ? value : null;
}
