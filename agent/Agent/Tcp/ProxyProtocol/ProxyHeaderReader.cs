namespace LoadBalancer.Agent.Tcp.ProxyProtocol;

/// <summary>
/// Takes a PROXY protocol header off a client socket without reading past it: each step peeks at
/// what arrived, and consumes all of it while the header is incomplete (it is all header then),
/// or exactly the rest of the header once it is complete. The client's own bytes stay in the
/// socket for the relay. Used by both relays; the caller does the system calls.
/// </summary>
internal sealed class ProxyHeaderReader
{
    private readonly byte[] _buffer = new byte[ProxyHeader.MaxLength];
    private int _have;

    /// <summary>Where the next peek writes: the buffer from <see cref="Have"/> on.</summary>
    public byte[] Buffer => _buffer;

    /// <summary>Header bytes consumed from the socket so far.</summary>
    public int Have => _have;

    /// <summary>Room left for the next peek.</summary>
    public int Room => _buffer.Length - _have;

    /// <summary>
    /// Takes the <paramref name="peeked"/> bytes just peeked into <see cref="Buffer"/> at
    /// <see cref="Have"/>. The caller then consumes <paramref name="consume"/> bytes from the socket
    /// into <see cref="Buffer"/> at <c>Have - consume</c> (the same bytes, already there).
    /// </summary>
    public ProxyHeaderStatus Offer(int peeked, out int consume, out ProxyHeader? header)
    {
        var status = ProxyHeader.TryParse(_buffer.AsSpan(0, _have + peeked), out header);
        switch (status)
        {
            case ProxyHeaderStatus.Complete:
                consume = header!.Length - _have;
                _have = header.Length;
                return status;
            case ProxyHeaderStatus.Incomplete:
                consume = peeked;
                _have += peeked;
                // Incomplete at the size limit can only be a header longer than it.
                return _have == _buffer.Length ? ProxyHeaderStatus.Invalid : status;
            default:
                consume = 0;
                return status;
        }
    }
}

/// <summary>The outcome of reading a client's PROXY protocol header: the header, or why there is none.</summary>
internal readonly record struct ProxyHeaderRead(ProxyHeader? Header, string Failure)
{
    public static ProxyHeaderRead Of(ProxyHeader header) => new(header, "");

    public static ProxyHeaderRead Failed(string why) => new(null, why);

    public static readonly ProxyHeaderRead Invalid = Failed("invalid");

    public static readonly ProxyHeaderRead TimedOut = Failed("timeout");

    public static readonly ProxyHeaderRead Closed = Failed("closed");
}
