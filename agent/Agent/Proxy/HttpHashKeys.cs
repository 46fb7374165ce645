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
    public static PickContext For(HttpContext context, PoolRuntime pool) => For(new ContextRequestKeys(context), pool);

    public static PickContext For<TRequest>(TRequest request, PoolRuntime pool)
        where TRequest : IRequestKeys
    {
        switch (pool.Config.Algorithm)
        {
            case LoadBalancingAlgorithms.IpHash:
                return ForAddress(request.RemoteAddress);
            case LoadBalancingAlgorithms.ConsistentHash:
                return ForHashOn(request, pool.Config.HashOn);
            default:
                return PickContext.None;
        }
    }

    /// <summary>A header's or cookie's value as a key; none when absent or empty.</summary>
    public static PickContext ForValue(string? value) =>
        string.IsNullOrEmpty(value) ? PickContext.None : new PickContext(StableHash.Hash(value.AsSpan()));

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

    private static PickContext ForHashOn<TRequest>(TRequest request, string hashOn)
        where TRequest : IRequestKeys
    {
        var space = hashOn.IndexOf(' ', StringComparison.Ordinal);
        var kind = space < 0 ? hashOn : hashOn[..space];
        var name = space < 0 ? string.Empty : hashOn[(space + 1)..].Trim();
        switch (kind)
        {
            case "source-ip":
                return ForAddress(request.RemoteAddress);
            case "path":
                return new PickContext(StableHash.Hash(request.Path.AsSpan()));
            case "header":
                return ForValue(request.Header(name));
            case "cookie":
                return ForValue(request.Cookie(name));
            default:
                return PickContext.None;
        }
    }
}
