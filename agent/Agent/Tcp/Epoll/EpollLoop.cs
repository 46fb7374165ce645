using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace LoadBalancer.Agent.Tcp.Epoll;

/// <summary>What another thread asks of a connection's loop.</summary>
internal enum EpollCommand
{
    /// <summary>Watch the backend socket whose non-blocking connect was started.</summary>
    Connect,

    /// <summary>The connect timeout passed: give the attempt up if it is still connecting.</summary>
    ConnectTimedOut,

    /// <summary>Start relaying: watch the client socket too.</summary>
    Start,

    /// <summary>Close both sides (drain, idle timeout, listener stop).</summary>
    Abort,

    /// <summary>Watch the client socket and take its PROXY protocol header off.</summary>
    ReadHeader,

    /// <summary>The PROXY protocol header did not arrive in time.</summary>
    HeaderTimedOut,
}

/// <summary>
/// One thread with its own epoll set, relaying the tcp connections given to it, in the manner of
/// nginx's and HAProxy's event loops: edge-triggered, every socket read until it is drained and
/// written until the kernel's buffer is full, nothing handed to another thread per message. Every
/// system call on a socket it watches, and every close of one, happens on this thread, so a file
/// descriptor cannot be reused under it.
/// </summary>
internal sealed partial class EpollLoop
{
    private const int MaxEvents = 256;
    private const ulong WakeUpData = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wakeUp;
    private readonly ConcurrentQueue<(TcpRelayConnection Connection, EpollCommand Command)> _commands = new();
    private readonly ILogger _logger;
    private readonly int _threadId;
    private int _wakeUpPosted;

    // Loop thread only. An event's data is (generation << 32) | (slot << 1) | side, so an event
    // still in a batch for a connection closed earlier in that batch is not taken for the
    // connection that reused its slot.
    private TcpRelayConnection?[] _slots = new TcpRelayConnection?[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _free = new();
    private int _used;

    public EpollLoop(int index, ILogger logger)
    {
        _logger = logger;
        _epoll = EpollInterop.CreateEpoll();
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {EpollInterop.LastError}");
        }
        _wakeUp = EpollInterop.CreateEventFd();
        if (_wakeUp < 0 || EpollInterop.Add(_epoll, _wakeUp, EpollInterop.EPOLLIN | EpollInterop.EPOLLET, WakeUpData) < 0)
        {
            throw new InvalidOperationException($"eventfd for the relay loop failed: errno {EpollInterop.LastError}");
        }
        var thread = new Thread(Run) { IsBackground = true, Name = $"lb-tcp-relay-{index}" };
        thread.Start();
        _threadId = thread.ManagedThreadId;
    }

    internal int Epoll => _epoll;

    /// <summary>True on this loop's own thread.</summary>
    public bool IsCurrentThread => Environment.CurrentManagedThreadId == _threadId;

    /// <summary>Hands a command to the loop thread; callable from any thread.</summary>
    public void Post(TcpRelayConnection connection, EpollCommand command)
    {
        _commands.Enqueue((connection, command));
        if (Interlocked.Exchange(ref _wakeUpPosted, 1) == 0)
        {
            EpollInterop.Signal(_wakeUp);
        }
    }

    /// <summary>Gives a connection a slot; returns the event data of its client side (the backend side is +1).</summary>
    internal ulong Register(TcpRelayConnection connection, out int slot)
    {
        if (_free.Count > 0)
        {
            slot = _free.Pop();
        }
        else
        {
            if (_used == _slots.Length)
            {
                Array.Resize(ref _slots, _slots.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
            slot = _used++;
        }
        _slots[slot] = connection;
        return ((ulong)_generations[slot] << 32) | ((ulong)(uint)slot << 1);
    }

    internal void Release(int slot)
    {
        _slots[slot] = null;
        _generations[slot]++;
        _free.Push(slot);
    }

    private void Run()
    {
        var events = GC.AllocateArray<byte>(MaxEvents * EpollInterop.EventSize, pinned: true);
        while (true)
        {
            var count = EpollInterop.Wait(_epoll, events, MaxEvents);
            if (count < 0)
            {
                var error = EpollInterop.LastError;
                if (error != EpollInterop.EINTR)
                {
                    // Not expected with a valid epoll set; keep the thread alive rather than spin.
                    Log.WaitFailed(_logger, error);
                    Thread.Sleep(100);
                }
                continue;
            }
            for (var i = 0; i < count; i++)
            {
                var entry = events.AsSpan(i * EpollInterop.EventSize, EpollInterop.EventSize);
                var flags = MemoryMarshal.Read<uint>(entry);
                var data = MemoryMarshal.Read<ulong>(entry[EpollInterop.DataOffset..]);
                if (data == WakeUpData)
                {
                    RunCommands();
                    continue;
                }
                var slot = (int)((uint)data >> 1);
                if ((uint)slot >= (uint)_used || _generations[slot] != (uint)(data >> 32) || _slots[slot] is not { } connection)
                {
                    continue;
                }
                Guard(connection, static (c, s) => c.OnEvents(s.Backend, s.Flags), (Backend: (data & 1) != 0, Flags: flags));
            }
        }
    }

    private void RunCommands()
    {
        // Drained before the flag is cleared: a post after the clear signals again, and that
        // signal stays pending for the next wait instead of being read away here.
        EpollInterop.Drain(_wakeUp);
        Interlocked.Exchange(ref _wakeUpPosted, 0);
        while (_commands.TryDequeue(out var item))
        {
            Guard(item.Connection, static (c, command) => c.OnCommand(command), item.Command);
        }
    }

    // A bug in one connection's handling closes that connection, never the loop.
    private void Guard<T>(TcpRelayConnection connection, Action<TcpRelayConnection, T> action, T argument)
    {
        try
        {
            action(connection, argument);
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_logger, ex);
            try
            {
                connection.CloseOnLoop();
            }
            catch (Exception closeFailure)
            {
                Log.ConnectionFailed(_logger, closeFailure);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7005, Level = LogLevel.Error, Message = "tcp relay loop: epoll_wait failed with errno {Errno}")]
        public static partial void WaitFailed(ILogger logger, int errno);

        [LoggerMessage(EventId = 7006, Level = LogLevel.Error, Message = "tcp relay loop: a connection failed and was closed")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception);
    }
}
