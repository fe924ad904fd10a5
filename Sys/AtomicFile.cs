namespace MailPanel.Sys;

/// <summary>
/// Replaces a file so that a reader (or a crash, kill -9 included) sees either the old bytes or the
/// new ones, never a mix: temp file in the same directory (written by the caller, e.g. through
/// CompareWriteStream), owner/mode, fsync, rename over, fsync of the directory.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The temp name used for <paramref name="path"/>: hidden, in the same directory, per process.</summary>
    public static string TempName(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.tmp.{Environment.ProcessId}");

    /// <summary>
    /// Puts a finished temp file (same directory) in place of <paramref name="path"/>: mode, owner
    /// (applied only as root), fsync, rename over, fsync of the directory.
    /// </summary>
    public static void Install(string temp, string path, UnixFileMode mode, (uint Uid, uint Gid)? owner = null)
    {
        File.SetUnixFileMode(temp, mode); // a created file's mode is filtered by the umask
        if (owner is { } o && Posix.IsRoot) Posix.Chown(temp, o.Uid, o.Gid);
        using (var stream = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite)) stream.Flush(flushToDisk: true);
        File.Move(temp, path, overwrite: true);
        Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
    }

    /// <summary>Removes a file and makes the removal durable; a missing file is fine.</summary>
    public static void Delete(string path)
    {
        if (!File.Exists(path)) return;
        File.Delete(path);
        Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
    }
}
