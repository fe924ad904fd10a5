using System.Text;
using MailPanel.Core;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Rules;

/// <summary>A quarantined message's record and its bytes, as received.</summary>
internal sealed record QuarantinedMessage(QuarantineEntry Entry, byte[] Raw);

/// <summary>
/// The quarantine: a message the milter withholds is a row in SQLite (Store/QuarantineStore.cs) and
/// its bytes in DATA_DIR/quarantine/&lt;id&gt;.eml (0600, directory 0700). The file is written and
/// fsynced inside the row's write transaction, so a committed row always has its file; a crash
/// before the commit leaves at most a file whose id the next insert reuses (and overwrites).
/// Release reinjects the original message through this instance's Postfix sendmail to the
/// recipients it was withheld from, with the verdict headers removed (the Sieve junk rule must not
/// file a released message into Junk); the record goes only after sendmail took it.
/// </summary>
internal sealed class QuarantineRules(Db db, AppConfig config, MailPaths paths)
{
    const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;

    public string Dir => Path.Combine(config.DataDir, "quarantine");

    string FileOf(long id) => Path.Combine(Dir, id.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".eml");

    /// <summary>Stores a withheld message; throws when the disk or the database fails (the milter then answers 451: the sender retries).</summary>
    public async Task<QuarantineEntry> Add(byte[] message, string sender, IReadOnlyList<string> recipients, double? score, string reason, string virus,
        CancellationToken cancel = default)
    {
        Posix.EnsureDirectory(Dir, Mode0700, (0, 0));
        using var write = await db.BeginWrite(cancel);
        var entry = QuarantineStore.Insert(write, Clock.Now(), sender, recipients, score, reason, virus, message.Length, Subject(message));
        var path = FileOf(entry.Id);
        var temp = AtomicFile.TempName(path);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = Mode0600 };
        await using (var file = new FileStream(temp, options))
        {
            await file.WriteAsync(message, cancel);
            file.Flush(flushToDisk: true);
        }
        AtomicFile.Install(temp, path, Mode0600);
        write.Commit();
        return entry;
    }

    public (List<QuarantineEntry> Rows, long Total) List(Page page) => QuarantineStore.List(db, page);

    public Outcome<QuarantinedMessage> Read(long id)
    {
        if (QuarantineStore.Get(db, id) is not { } entry) return Refused.NotFound("quarantined message not found");
        try
        {
            return Outcome<QuarantinedMessage>.Done(new QuarantinedMessage(entry, File.ReadAllBytes(FileOf(id))));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Refused.Failed("quarantined message file unreadable", e.Message);
        }
    }

    /// <summary>Reinjects the message (verdict headers removed) to its withheld recipients, then forgets it.</summary>
    public async Task<Outcome<QuarantineEntry>> Release(long id, CancellationToken cancel = default)
    {
        var read = Read(id);
        if (!read.Ok) return Outcome<QuarantineEntry>.Refuse(read.Refused!.Value, read.Error, read.Detail);
        var (entry, raw) = read.Value!;
        var sender = entry.Sender.Length == 0 ? "<>" : entry.Sender;
        // -i: a line with a single dot is text; -f: the original envelope sender; -C: this instance's Postfix.
        var result = await Run.Exec("sendmail", ["-C", paths.PostfixConfigDir, "-i", "-f", sender, "--", .. entry.Recipients],
            TimeSpan.FromSeconds(60), cancel: cancel, input: WithoutVerdict(raw));
        if (!result.Ok) return Refused.Failed("release failed: sendmail refused the message", result.Describe("sendmail"));
        await Forget(id, cancel);
        return Outcome<QuarantineEntry>.Done(entry);
    }

    public async Task<Outcome<Done>> Delete(long id, CancellationToken cancel = default)
    {
        if (!await Forget(id, cancel)) return Refused.NotFound("quarantined message not found");
        return Outcome<Done>.Done(default);
    }

    async Task<bool> Forget(long id, CancellationToken cancel)
    {
        using (var write = await db.BeginWrite(cancel))
        {
            if (!QuarantineStore.Delete(write, id)) return false;
            write.Commit();
        }
        AtomicFile.Delete(FileOf(id));
        return true;
    }

    /// <summary>The header block: up to the first empty line (CRLF or LF).</summary>
    static int HeaderEnd(byte[] message)
    {
        for (var i = 0; i < message.Length - 1; i++)
        {
            if (message[i] != '\n') continue;
            if (message[i + 1] == '\n') return i + 1;
            if (message[i + 1] == '\r' && i + 2 < message.Length && message[i + 2] == '\n') return i + 1;
        }
        return message.Length;
    }

    /// <summary>The message without X-Spam-* and X-Virus-Status headers (continuation lines go with their header).</summary>
    public static byte[] WithoutVerdict(byte[] message)
    {
        var end = HeaderEnd(message);
        var head = Encoding.Latin1.GetString(message, 0, end);
        var kept = new StringBuilder(head.Length);
        var drop = false;
        foreach (var line in SplitLines(head))
        {
            if (line.Length > 0 && line[0] is ' ' or '\t') { if (!drop) kept.Append(line); continue; }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            drop = colon > 0 && ContentFilter.IsVerdictHeader(line[..colon].Trim());
            if (!drop) kept.Append(line);
        }
        var bytes = Encoding.Latin1.GetBytes(kept.ToString());
        return [.. bytes, .. message.AsSpan(end)];
    }

    /// <summary>Lines with their line ends.</summary>
    static IEnumerable<string> SplitLines(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\n') continue;
            yield return text[start..(i + 1)];
            start = i + 1;
        }
        if (start < text.Length) yield return text[start..];
    }

    /// <summary>The first Subject header's value, unfolded, at most 998 characters.</summary>
    public static string Subject(byte[] message)
    {
        var head = Encoding.UTF8.GetString(message, 0, HeaderEnd(message));
        string? subject = null;
        foreach (var line in SplitLines(head))
        {
            var text = line.TrimEnd('\r', '\n');
            if (subject is not null)
            {
                if (text.Length > 0 && text[0] is ' ' or '\t') { subject += " " + text.Trim(); continue; }
                break;
            }
            if (text.StartsWith("Subject:", StringComparison.OrdinalIgnoreCase)) subject = text[8..].Trim();
        }
        subject ??= "";
        return subject.Length > 998 ? subject[..998] : subject;
    }
}
