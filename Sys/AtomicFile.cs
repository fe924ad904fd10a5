namespace MailPanel;

/// <summary>
/// Replaces a file so that a reader (or a crash, kill -9 included) sees either the old bytes or the
/// new ones, never a mix: temp file in the same directory, fsync, owner/mode, rename over, fsync
/// of the directory.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The temp name used for <paramref name="path"/>: hidden, in the same directory, per process.</summary>
    public static string TempName(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.tmp.{Environment.ProcessId}");

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> atomically. <paramref name="owner"/> is
    /// applied only as root; <paramref name="mtime"/> (whole seconds) is set before the rename, so the
    /// file never shows up with the wrong time.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode, (uint Uid, uint Gid)? owner = null, DateTimeOffset? mtime = null)
    {
        var dir = Path.GetDirectoryName(path)!;
        var temp = TempName(path);
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = mode,
            }))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temp, mode); // UnixCreateMode is filtered by the umask
            if (owner is { } o && Posix.IsRoot) Posix.Chown(temp, o.Uid, o.Gid);
            if (mtime is { } t) File.SetLastWriteTimeUtc(temp, t.UtcDateTime);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { }
            throw;
        }
        Posix.FsyncDirectory(dir);
    }

    /// <summary>Removes a file and makes the removal durable; a missing file is fine.</summary>
    public static void Delete(string path)
    {
        if (!File.Exists(path)) return;
        File.Delete(path);
        Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
    }
}
