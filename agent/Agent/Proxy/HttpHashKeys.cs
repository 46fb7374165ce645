using System.Net;
using LoadBalancer.Agent.LoadBalancing;
using LoadBalancer.Agent.Pools;

namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// The HTTP side of hashing: turns the part of a request named by the pool (source address,
/// a header, a cookie or the path) into the key the balancer core hashes on.
/// </summary>
internal static class HttpHashKeys
{
    public static PickContext For(HttpContext context, PoolRuntime pool)
    {
        switch (pool.Config.Algorithm)
        {
            case LoadBalancingAlgorithms.IpHash:
                return ForAddress(context.Connection.RemoteIpAddress);
            case LoadBalancingAlgorithms.ConsistentHash:
                return ForHashOn(context, pool.Config.HashOn);
            default:
                return PickContext.None;
        }
    }

    public static PickContext ForAddress(IPAddress? address)
    {
        if (address is null)
        {
            return PickContext.None;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        Span<byte> bytes = stackalloc byte[16];
        return address.TryWriteBytes(bytes, out var written)
            ? new PickContext(StableHash.Hash(bytes[..written]))
            : PickContext.None;
    }

    private static PickContext ForHashOn(HttpContext context, string hashOn)
    {
        var space = hashOn.IndexOf(' ', StringComparison.Ordinal);
        var kind = space < 0 ? hashOn : hashOn[..space];
        var name = space < 0 ? string.Empty : hashOn[(space + 1)..].Trim();
        switch (kind)
        {
            case "source-ip":
                return ForAddress(context.Connection.RemoteIpAddress);
            case "path":
                return new PickContext(StableHash.Hash(context.Request.Path.Value.AsSpan()));
            case "header":
                var header = context.Request.Headers[name];
                return header.Count == 0 || string.IsNullOrEmpty(header[0])
                    ? PickContext.None
                    : new PickContext(StableHash.Hash(header[0].AsSpan()));
            case "cookie":
                return context.Request.Cookies.TryGetValue(name, out var cookie) && !string.IsNullOrEmpty(cookie)
                    ? new PickContext(StableHash.Hash(cookie.AsSpan()))
                    : PickContext.None;
            default:
                return PickContext.None;
        }
    }
}
