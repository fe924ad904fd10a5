using System.Runtime.InteropServices;

namespace MailPanel.Sys;

/// <summary>The few libc calls .NET lacks, bound with LibraryImport (AOT-safe, no helper library).</summary>
internal static partial class Posix
{
    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int ChownNative(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncNative(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadNative(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LinkNative(string existing, string link);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseNative(int fd);

    public static bool IsRoot => GetEuid() == 0;

    public static void Chown(string path, uint uid, uint gid)
    {
        if (ChownNative(path, uid, gid) != 0)
            throw new IOException($"chown {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>A second name for a file (link(2)): keeps the previous version of a file reachable while a rename replaces it.</summary>
    public static void Link(string existing, string link)
    {
        if (LinkNative(existing, link) != 0)
            throw new IOException($"link {existing} -> {link}: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>kill(pid, 0) probes a process; other signals (SIGHUP = 1, SIGTERM = 15) reach daemons directly.</summary>
    public static bool Kill(int pid, int signal) => KillNative(pid, signal) == 0;

    public static bool IsAlive(int pid) => pid > 0 && (KillNative(pid, 0) == 0 || Marshal.GetLastPInvokeError() == 1 /* EPERM: exists */);

    /// <summary>
    /// The first <paramref name="max"/> bytes of a small file, read with plain open/read. .NET's
    /// FileStream takes a shared flock(2) on Unix and fails ("being used by another process") on a
    /// file a daemon holds locked, as the Postfix master does with its master.pid.
    /// </summary>
    public static unsafe string ReadSmallFile(string path, int max = 4096)
    {
        const int ORdOnly = 0, OCloExec = 0x80000, ENOENT = 2, ENOTDIR = 20;
        var fd = OpenNative(path, ORdOnly | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) throw new FileNotFoundException($"{path} does not exist", path);
            throw new IOException($"open {path}: errno {errno}");
        }
        try
        {
            var buffer = new byte[max];
            var total = 0;
            fixed (byte* p = buffer)
            {
                while (total < max)
                {
                    var n = ReadNative(fd, p + total, max - total);
                    if (n < 0) throw new IOException($"read {path}: errno {Marshal.GetLastPInvokeError()}");
                    if (n == 0) break;
                    total += (int)n;
                }
            }
            return System.Text.Encoding.UTF8.GetString(buffer, 0, total);
        }
        finally
        {
            CloseNative(fd);
        }
    }

    /// <summary>
    /// Makes <paramref name="path"/> when it is missing (missing parents 0755), with an explicit mode
    /// (the host's umask may be 0, and `postfix check` refuses group/other-writable parents) and, as
    /// root, the owner. An existing directory is left exactly as it is.
    /// </summary>
    public static void EnsureDirectory(string path, UnixFileMode mode, (uint Uid, uint Gid)? owner)
    {
        if (Directory.Exists(path)) return;
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(path, mode);
        if (owner is { } o && IsRoot) Chown(path, o.Uid, o.Gid);
    }

    /// <summary>fsync of a directory, so a rename inside it is durable.</summary>
    public static void FsyncDirectory(string dir)
    {
        const int ORdOnly = 0, ODirectory = 0x10000;
        var fd = OpenNative(dir, ORdOnly | ODirectory);
        if (fd < 0) throw new IOException($"open {dir}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (FsyncNative(fd) != 0) throw new IOException($"fsync {dir}: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            CloseNative(fd);
        }
    }

    /// <summary>gid of a system group from /etc/group.</summary>
    public static uint? LookupGroup(string name, string groupFile = "/etc/group")
    {
        if (!File.Exists(groupFile)) return null;
        foreach (var line in File.ReadLines(groupFile))
        {
            var f = line.Split(':');
            if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], out var gid)) return gid;
        }
        return null;
    }

    /// <summary>uid/gid of a system user from /etc/passwd (no NSS call: the users we need are local).</summary>
    public static (uint Uid, uint Gid)? LookupUser(string name, string passwdFile = "/etc/passwd")
    {
        if (!File.Exists(passwdFile)) return null;
        foreach (var line in File.ReadLines(passwdFile))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == name && uint.TryParse(f[2], out var uid) && uint.TryParse(f[3], out var gid))
                return (uid, gid);
        }
        return null;
    }
}
