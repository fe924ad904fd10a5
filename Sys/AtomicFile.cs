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

    /// <summary>
    /// Writes <paramref name="text"/> to <paramref name="path"/>'s temp name, created with
    /// <paramref name="mode"/> from its first byte (a secret is never readable by others, not even
    /// for a moment); <see cref="Install"/> then puts it in place.
    /// </summary>
    public static string WriteTemp(string path, string text, UnixFileMode mode)
    {
        var temp = TempName(path);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode };
        using (var file = new FileStream(temp, options)) file.Write(System.Text.Encoding.UTF8.GetBytes(text));
        return temp;
    }

    /// <summary>Removes a file and makes the removal durable; a missing file is fine.</summary>
    public static void Delete(string path)
    {
        if (!File.Exists(path)) return;
        File.Delete(path);
        Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
    }
}
