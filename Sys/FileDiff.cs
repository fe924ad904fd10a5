using System.Text;
using MailPanel.Core;

namespace MailPanel.Sys;

/// <summary>What a map source gained and lost: lines to put (key value) and keys to delete.</summary>
internal sealed record MapDelta(List<string> Put, List<string> Delete)
{
    public int Count => Put.Count + Delete.Count;
}

/// <summary>How a users dict differs from the one on disk, by mailbox.</summary>
internal readonly record struct UsersChange(bool AddsOrChanges, bool Removes);

/// <summary>
/// Streaming comparisons of rendered files with the ones on disk: two readers walk both files
/// side by side, so a 15 MB users dict or a 100,000-line map is never held in memory whole.
/// Rendered files are sorted (Render/), which is what makes one pass enough.
/// </summary>
internal static class FileDiff
{
    static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);

    /// <summary>True when both files exist and hold the same bytes.</summary>
    public static bool SameContent(string a, string b)
    {
        if (!File.Exists(a) || !File.Exists(b)) return false;
        using var fa = OpenRead(a);
        using var fb = OpenRead(b);
        if (fa.Length != fb.Length) return false;
        var ba = new byte[1 << 16];
        var bb = new byte[1 << 16];
        while (true)
        {
            var na = fa.ReadAtLeast(ba, ba.Length, throwOnEndOfStream: false);
            var nb = fb.ReadAtLeast(bb, bb.Length, throwOnEndOfStream: false);
            if (na != nb || !ba.AsSpan(0, na).SequenceEqual(bb.AsSpan(0, nb))) return false;
            if (na < ba.Length) return true;
        }
    }

    /// <summary>One entry of a key-ordered file: its key and its whole text (a map line, or a mailbox's dict lines).</summary>
    readonly record struct Entry(string Key, string Text);

    /// <summary>
    /// Walks two files' entries side by side in <paramref name="order"/>, calling
    /// <paramref name="visit"/> with (old, new), null for the side that lacks the key. False when
    /// either file is out of order (not rendered by us) or <paramref name="visit"/> says stop.
    /// </summary>
    static bool Merge(IEnumerable<Entry> olds, IEnumerable<Entry> news, IComparer<string> order, Func<Entry?, Entry?, bool> visit)
    {
        using var o = olds.GetEnumerator();
        using var n = news.GetEnumerator();
        Entry? old = o.MoveNext() ? o.Current : null, now = n.MoveNext() ? n.Current : null;
        string? lastOld = null, lastNew = null;
        while (old is not null || now is not null)
        {
            if ((old is { } x && lastOld is not null && order.Compare(x.Key, lastOld) <= 0)
                || (now is { } y && lastNew is not null && order.Compare(y.Key, lastNew) <= 0))
                return false;
            var cmp = old is null ? 1 : now is null ? -1 : order.Compare(old.Value.Key, now.Value.Key);
            if (!visit(cmp <= 0 ? old : null, cmp >= 0 ? now : null)) return false;
            if (cmp <= 0)
            {
                lastOld = old!.Value.Key;
                old = o.MoveNext() ? o.Current : null;
            }
            if (cmp >= 0)
            {
                lastNew = now!.Value.Key;
                now = n.MoveNext() ? n.Current : null;
            }
        }
        return true;
    }

    /// <summary>Lines of a map source that carry an entry, keyed by their first word; comments and blanks skipped.</summary>
    static IEnumerable<Entry> MapEntries(string path)
    {
        using var reader = new StreamReader(OpenRead(path), Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.IndexOfAny([' ', '\t']);
            yield return new Entry(space < 0 ? line : line[..space], line);
        }
    }

    /// <summary>
    /// The entries to put and the keys to delete to turn map <paramref name="oldPath"/> into
    /// <paramref name="newPath"/>; null when a full rebuild is the better (or only safe) way: more than
    /// <paramref name="limit"/> changes, or a file that is not sorted by key (not rendered by us).
    /// </summary>
    public static MapDelta? DiffMap(string oldPath, string newPath, int limit, IComparer<string>? order = null)
    {
        var delta = new MapDelta([], []);
        var complete = Merge(MapEntries(oldPath), MapEntries(newPath), order ?? StringComparer.Ordinal, (old, now) =>
        {
            if (now is null) delta.Delete.Add(old!.Value.Key);
            else if (old is null || old.Value.Text != now.Value.Text) delta.Put.Add(now.Value.Text);
            return delta.Count <= limit;
        });
        return complete ? delta : null;
    }

    /// <summary>
    /// The users dict as entries: every key/value pair of one mailbox (the address after the key's
    /// last '/'), in file order, keyed by that address. Equal texts mean equal entries.
    /// </summary>
    static IEnumerable<Entry> UserGroups(string path)
    {
        using var reader = new StreamReader(OpenRead(path), Encoding.UTF8);
        string? address = null;
        var group = new StringBuilder();
        while (reader.ReadLine() is { } key)
        {
            var value = reader.ReadLine() ?? "";
            var slash = key.LastIndexOf('/');
            var owner = slash < 0 ? key : key[(slash + 1)..];
            if (address is not null && owner != address)
            {
                yield return new Entry(address, group.ToString());
                group.Clear();
            }
            address = owner;
            group.Append(key).Append('\n').Append(value).Append('\n');
        }
        if (address is not null) yield return new Entry(address, group.ToString());
    }

    /// <summary>
    /// Whether the new users dict adds or changes mailboxes and whether it removes any; mailboxes are
    /// in <see cref="AddressOrder"/>. A file out of order (not rendered by us) counts as all-new.
    /// </summary>
    public static UsersChange CompareUsers(string oldPath, string newPath)
    {
        if (!File.Exists(oldPath)) return new UsersChange(true, false);
        bool adds = false, removes = false;
        var sorted = Merge(UserGroups(oldPath), UserGroups(newPath), AddressOrder.Instance, (old, now) =>
        {
            if (now is null) removes = true;
            else if (old is null || old.Value.Text != now.Value.Text) adds = true;
            return true;
        });
        return sorted ? new UsersChange(adds, removes) : new UsersChange(true, false);
    }
}

/// <summary>
/// The sink a rendered file is written into: it compares the bytes with the live file as they come
/// and writes nothing while they match. At the first difference it copies the matched prefix from
/// the live file into the temp file and goes on writing there. An unchanged file therefore costs
/// one read of the live file and no write at all.
/// </summary>
internal sealed class CompareWriteStream(string live, string temp) : Stream
{
    readonly FileStream? current = File.Exists(live) ? new FileStream(live, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16) : null;
    FileStream? output;
    byte[] scratch = [];
    long position;

    /// <summary>Runs <paramref name="write"/> against the live file at <paramref name="live"/>; true (and the new content in <paramref name="temp"/>) when it differs.</summary>
    public static bool Render(string live, string temp, Action<Stream> write)
    {
        using var sink = new CompareWriteStream(live, temp);
        write(sink);
        return sink.Finish();
    }

    /// <summary>True when the content differs from the live file (the temp file then holds all of it).</summary>
    public bool Finish()
    {
        if (output is null && current is not null && current.Length == position) return false;
        Diverge();
        output!.Flush();
        return true;
    }

    void Diverge()
    {
        if (output is not null) return;
        output = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        if (current is null) return;
        current.Position = 0;
        var left = position;
        var buffer = new byte[1 << 16];
        while (left > 0)
        {
            var n = current.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) break;
            output.Write(buffer, 0, n);
            left -= n;
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (output is null && current is not null)
        {
            if (scratch.Length < buffer.Length) scratch = new byte[Math.Max(buffer.Length, 1 << 16)];
            var n = current.ReadAtLeast(scratch.AsSpan(0, buffer.Length), buffer.Length, throwOnEndOfStream: false);
            if (n == buffer.Length && scratch.AsSpan(0, n).SequenceEqual(buffer))
            {
                position += n;
                return;
            }
        }
        Diverge();
        output!.Write(buffer);
        position += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            current?.Dispose();
            output?.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => position;
    public override long Position { get => position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
