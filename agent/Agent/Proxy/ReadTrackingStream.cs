namespace LoadBalancer.Agent.Proxy;

/// <summary>
/// Wraps a request body to tell whether the forwarder has started reading it. Bodies are
/// streamed, not buffered, so a request can be retried only while this is still false.
/// </summary>
/// <remarks>
/// "A read started" rather than "a byte came back": a read still pending when an attempt fails
/// would take bytes from under the next attempt, so it counts as consumed too.
/// </remarks>
internal sealed class ReadTrackingStream(Stream inner) : Stream
{
    private int _readStarted;

    public bool ReadStarted => Volatile.Read(ref _readStarted) != 0;

    public Stream Inner => inner;

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        MarkRead();
        return inner.Read(buffer, offset, count);
    }

    public override int Read(Span<byte> buffer)
    {
        MarkRead();
        return inner.Read(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        MarkRead();
        return inner.ReadAsync(buffer, offset, count, cancellationToken);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        MarkRead();
        return inner.ReadAsync(buffer, cancellationToken);
    }

    public override Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        MarkRead();
        return inner.CopyToAsync(destination, bufferSize, cancellationToken);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void MarkRead() => Volatile.Write(ref _readStarted, 1);
}
