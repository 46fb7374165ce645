using System.Runtime.InteropServices;

namespace LoadBalancer.Agent.Tcp.Epoll;

/// <summary>
/// The Linux system calls of the epoll relay. They are called directly rather than through
/// <see cref="System.Net.Sockets.Socket"/> because the relay must decide itself when a socket is
/// drained (a read shorter than its buffer), which the runtime's socket engine cannot be told:
/// it tries every receive once more and gets EAGAIN, a system call per message and direction.
/// </summary>
internal static class EpollInterop
{
    public const int EAGAIN = 11;
    public const int EINTR = 4;

    public const uint EPOLLIN = 0x1;
    public const uint EPOLLOUT = 0x4;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;

    public const int MSG_PEEK = 0x2;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;

    private const int CloseOnExec = 0x80000;
    private const int NonBlocking = 0x800;

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned on arm64 (16).</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    public static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>Linux on x64 or arm64, and the calls resolve (checked once by creating an epoll set).</summary>
    public static bool IsSupported { get; } = Probe();

    public static int CreateEpoll() => epoll_create1(CloseOnExec);

    public static int CreateEventFd() => eventfd(0, CloseOnExec | NonBlocking);

    public static int Add(int epoll, int fd, uint events, ulong data)
    {
        Span<byte> ev = stackalloc byte[16];
        MemoryMarshal.Write(ev, in events);
        MemoryMarshal.Write(ev[DataOffset..], in data);
        return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, ref MemoryMarshal.GetReference(ev));
    }

    public static int Remove(int epoll, int fd)
    {
        // Linux before 2.6.9 wanted a non-null event for DEL; a zeroed one costs nothing.
        Span<byte> ev = stackalloc byte[16];
        ev.Clear();
        return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, ref MemoryMarshal.GetReference(ev));
    }

    public static int Wait(int epoll, byte[] events, int maxEvents) =>
        epoll_wait(epoll, ref MemoryMarshal.GetArrayDataReference(events), maxEvents, -1);

    public static nint Receive(int fd, byte[] buffer, int offset, int count) =>
        recv(fd, ref buffer[offset], (nuint)count, MSG_DONTWAIT);

    /// <summary>A receive that leaves the bytes in the socket.</summary>
    public static nint Peek(int fd, byte[] buffer, int offset, int count) =>
        recv(fd, ref buffer[offset], (nuint)count, MSG_DONTWAIT | MSG_PEEK);

    public static nint Send(int fd, byte[] buffer, int offset, int count) =>
        send(fd, ref buffer[offset], (nuint)count, MSG_DONTWAIT | MSG_NOSIGNAL);

    public static void Signal(int eventFd)
    {
        ulong one = 1;
        _ = write(eventFd, ref one, sizeof(ulong));
    }

    public static void Drain(int eventFd)
    {
        ulong value = 0;
        _ = read(eventFd, ref value, sizeof(ulong));
    }

    public static int LastError => Marshal.GetLastPInvokeError();

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            return false;
        }
        try
        {
            var epoll = CreateEpoll();
            if (epoll < 0)
            {
                return false;
            }
            _ = close(epoll);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int epoll_create1(int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int epoll_ctl(int epfd, int op, int fd, ref byte ev);

    [DllImport("libc", SetLastError = true)]
    private static extern int epoll_wait(int epfd, ref byte events, int maxevents, int timeout);

    [DllImport("libc", SetLastError = true)]
    private static extern nint recv(int fd, ref byte buf, nuint len, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint send(int fd, ref byte buf, nuint len, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int eventfd(uint initval, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, ref ulong buf, nuint count);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, ref ulong buf, nuint count);

    [DllImport("libc")]
    private static extern int close(int fd);
}
