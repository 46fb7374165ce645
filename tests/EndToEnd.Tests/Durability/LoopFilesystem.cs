using System.ComponentModel;
using LoadBalancer.EndToEnd.Tests.Infrastructure;

namespace LoadBalancer.EndToEnd.Tests.Durability;

/// <summary>
/// An ext4 filesystem (default data=ordered) mounted from a loop device whose backing file lives in
/// a tmpfs. The loop device passes on only what the filesystem sends it: data written back or
/// fsynced. Writes still only in the mounted filesystem's page cache are not in the backing file,
/// so a copy of the backing file, taken without syncing or unmounting, is what a disk would hold
/// after a power cut. Needs root, loop devices, util-linux (losetup, mount) and e2fsprogs; when any
/// of them is refused the step throws with the reason, so the test fails rather than passes.
/// </summary>
public sealed class LoopFilesystem : IAsyncDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    private readonly string _folder;
    private string? _device;
    private bool _mounted;

    private LoopFilesystem(string folder)
    {
        _folder = folder;
        Image = Path.Combine(folder, "disk.img");
        MountPoint = Path.Combine(folder, "mnt");
    }

    /// <summary>The backing file: the "disk".</summary>
    public string Image { get; }

    public string MountPoint { get; }

    /// <summary>A new, empty ext4 filesystem of <paramref name="megabytes"/> MB, mounted at <see cref="MountPoint"/>.</summary>
    public static async Task<LoopFilesystem> CreateAsync(int megabytes)
    {
        var filesystem = new LoopFilesystem(NewFolder());
        try
        {
            using (var image = new FileStream(filesystem.Image, FileMode.CreateNew))
            {
                image.SetLength(megabytes * 1024L * 1024L);
            }
            await filesystem.AttachAsync().ConfigureAwait(false);
            // Everything initialised now, so no lazy background writes reach the device later.
            await RunAsync("mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0", filesystem._device!).ConfigureAwait(false);
            await filesystem.MountAsync().ConfigureAwait(false);
        }
        catch
        {
            await filesystem.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return filesystem;
    }

    /// <summary>
    /// Mounts a copy of a power-cut image as the machine would after the power came back: fsck
    /// (which replays the journal), then mount.
    /// </summary>
    public static async Task<LoopFilesystem> MountImageAsync(string image)
    {
        var filesystem = new LoopFilesystem(NewFolder());
        try
        {
            File.Move(image, filesystem.Image);
            await filesystem.AttachAsync().ConfigureAwait(false);
            // e2fsck exits 1 when it fixed something (a replayed journal, free counts): the normal
            // state after a power cut. 4 and above mean the filesystem itself was left damaged.
            var fsck = await Commands.RunAsync("e2fsck", ["-f", "-y", filesystem._device!], timeout: StepTimeout).ConfigureAwait(false);
            if (fsck.ExitCode > 1)
            {
                throw new InvalidOperationException($"e2fsck found the power-cut filesystem damaged beyond repair: {fsck}");
            }
            await filesystem.MountAsync().ConfigureAwait(false);
        }
        catch
        {
            await filesystem.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return filesystem;
    }

    /// <summary>
    /// The power cut: copies the device's contents as they are now, with no sync or unmount of the
    /// mounted filesystem first. Returns the copy's path (in a tmpfs, beside the image).
    /// </summary>
    public string CutPower()
    {
        // Beside the image, so it is deleted with it unless MountImageAsync takes it.
        var copy = Path.Combine(_folder, "cut-" + Guid.NewGuid().ToString("N")[..6] + ".img");
        File.Copy(Image, copy);
        return copy;
    }

    /// <summary>syncfs: everything written so far reaches the device (the machine "has been up a while").</summary>
    public Task SyncAsync() => RunAsync("sync", "-f", MountPoint);

    private static string NewFolder()
    {
        // A tmpfs keeps the "disk" in memory: fast, and never the host disk's own cache in between.
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var folder = Path.Combine(parent, "lb-powercut-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(folder);
        return folder;
    }

    private async Task AttachAsync() =>
        _device = (await RunAsync("losetup", "--find", "--show", Image).ConfigureAwait(false)).Stdout.Trim();

    private async Task MountAsync()
    {
        Directory.CreateDirectory(MountPoint);
        await RunAsync("mount", "-t", "ext4", _device!, MountPoint).ConfigureAwait(false);
        _mounted = true;
    }

    private static async Task<CommandResult> RunAsync(string tool, params string[] arguments)
    {
        CommandResult result;
        try
        {
            result = await Commands.RunAsync(tool, arguments, timeout: StepTimeout).ConfigureAwait(false);
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"the power-loss simulation needs {tool} (util-linux, mount, e2fsprogs): {e.Message}", e);
        }
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"the power-loss simulation needs root and loop devices; `{tool} {string.Join(' ', arguments)}` was refused: {result}");
        }
        return result;
    }

    /// <summary>Unmounts, detaches the loop device and deletes the image, whatever state it is in.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_mounted)
        {
            var unmount = await Commands.RunAsync("umount", [MountPoint], timeout: StepTimeout).ConfigureAwait(false);
            if (unmount.ExitCode != 0)
            {
                // Still busy (a process not yet reaped): detach it now, the kernel finishes when it is free.
                await Commands.RunAsync("umount", ["--lazy", MountPoint], timeout: StepTimeout).ConfigureAwait(false);
            }
            _mounted = false;
        }
        if (_device is not null)
        {
            await Commands.RunAsync("losetup", ["--detach", _device], timeout: StepTimeout).ConfigureAwait(false);
            _device = null;
        }
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A lazily unmounted folder may stay busy a moment; tmpfs is emptied at reboot.
        }
    }
}
