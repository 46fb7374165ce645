using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Connections;

namespace LoadBalancer.Agent.Tls;

/// <summary>
/// Whether a client's TLS ClientHello offers TLS 1.3, read from its supported_versions extension
/// before the handshake, without consuming anything. SslStream's client-hello info reports only the
/// hello's legacy version (TLS 1.2 for every TLS 1.3 client), and the listener needs the real answer
/// to hand TLS 1.3 clients options that SslStream can keep a context for (see <see cref="TlsPolicies"/>).
/// </summary>
public static class ClientHelloVersions
{
    private const int RecordHeader = 5;
    private const int MaxRecord = RecordHeader + (16 * 1024);
    private const ushort SupportedVersions = 0x002b;
    private const ushort Tls13 = 0x0304;

    private static readonly object Tls13Offered = new();
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    /// <summary>True when <see cref="PeekAsync"/> found TLS 1.3 in this connection's hello.</summary>
    public static bool OffersTls13(ConnectionContext connection) =>
        connection.Items.TryGetValue(Tls13Offered, out var value) && value is true;

    /// <summary>Reads the first TLS record (without consuming it) and notes whether it offers TLS 1.3.</summary>
    public static async Task PeekAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        CancellationTokenSource? deadline = null;
        try
        {
            while (true)
            {
                var result = deadline is null
                    ? await input.ReadAsync().ConfigureAwait(false)
                    : await input.ReadAsync(deadline.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = Parse(buffer, out var tls13);
                if (status == HelloStatus.Incomplete && !result.IsCompleted && !result.IsCanceled)
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                    // Most hellos come in one segment; a client that trickles one gets the handshake's time.
                    deadline ??= CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
                    deadline.CancelAfter(HelloTimeout);
                    continue;
                }
                // Nothing consumed or examined: TLS reads the same bytes at once.
                input.AdvanceTo(buffer.Start, buffer.Start);
                if (tls13)
                {
                    connection.Items[Tls13Offered] = true;
                }
                return;
            }
        }
        catch (OperationCanceledException)
        {
            // Too slow or gone: the TLS layer meets the same client and times it out or sees it closed.
        }
        finally
        {
            deadline?.Dispose();
        }
    }

    internal enum HelloStatus
    {
        Complete,
        Incomplete,
        NotAHello,
    }

    /// <summary>Parses the ClientHello in the first TLS record of <paramref name="data"/>.</summary>
    internal static HelloStatus Parse(ReadOnlySequence<byte> data, out bool offersTls13)
    {
        offersTls13 = false;
        if (data.Length < RecordHeader)
        {
            return data.IsEmpty || data.FirstSpan[0] == 0x16 ? HelloStatus.Incomplete : HelloStatus.NotAHello;
        }
        Span<byte> header = stackalloc byte[RecordHeader];
        data.Slice(0, RecordHeader).CopyTo(header);
        var recordLength = BinaryPrimitives.ReadUInt16BigEndian(header[3..]);
        if (header[0] != 0x16 || recordLength + RecordHeader > MaxRecord)
        {
            return HelloStatus.NotAHello;
        }
        if (data.Length < RecordHeader + recordLength)
        {
            return HelloStatus.Incomplete;
        }
        var rented = ArrayPool<byte>.Shared.Rent(recordLength);
        try
        {
            var record = rented.AsSpan(0, recordLength);
            data.Slice(RecordHeader, recordLength).CopyTo(record);
            offersTls13 = OffersTls13(record);
            return HelloStatus.Complete;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Walks a handshake message: type 1 (ClientHello), 3-byte length, version, random, session id,
    /// cipher suites, compression methods, then extensions. A hello cut by the record's end (one
    /// spread over several records, rare) reads as not offering TLS 1.3: the slower, always-correct options.
    /// </summary>
    private static bool OffersTls13(ReadOnlySpan<byte> hello)
    {
        if (hello.Length < 4 || hello[0] != 0x01)
        {
            return false;
        }
        var body = hello[4..];
        var at = 2 + 32;
        if (!Skip(body, ref at, 1) || !Skip(body, ref at, 2) || !Skip(body, ref at, 1) || at + 2 > body.Length)
        {
            return false;
        }
        var end = Math.Min(body.Length, at + 2 + BinaryPrimitives.ReadUInt16BigEndian(body[at..]));
        at += 2;
        while (at + 4 <= end)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(body[at..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(body[(at + 2)..]);
            at += 4;
            if (at + length > end)
            {
                return false;
            }
            if (type == SupportedVersions)
            {
                var versions = body.Slice(at, length);
                if (versions.Length < 1)
                {
                    return false;
                }
                var count = Math.Min(versions[0], versions.Length - 1) / 2;
                for (var i = 0; i < count; i++)
                {
                    if (BinaryPrimitives.ReadUInt16BigEndian(versions[(1 + (2 * i))..]) == Tls13)
                    {
                        return true;
                    }
                }
                return false;
            }
            at += length;
        }
        return false;
    }

    /// <summary>Skips a field prefixed by a big-endian length of <paramref name="lengthBytes"/> bytes.</summary>
    private static bool Skip(ReadOnlySpan<byte> body, ref int at, int lengthBytes)
    {
        if (at + lengthBytes > body.Length)
        {
            return false;
        }
        var length = lengthBytes == 1 ? body[at] : BinaryPrimitives.ReadUInt16BigEndian(body[at..]);
        at += lengthBytes + length;
        return at <= body.Length;
    }
}
