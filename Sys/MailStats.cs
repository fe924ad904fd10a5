using System.Text;
using System.Text.Json.Serialization;
using MailPanel.Core;

namespace MailPanel.Sys;

/// <summary>GET /stats/mail: the names carry digits, so they are spelled out rather than left to the snake_case policy.</summary>
internal sealed record MailCounts(
    [property: JsonPropertyName("sent_1h")] long Sent1h,
    [property: JsonPropertyName("sent_24h")] long Sent24h,
    [property: JsonPropertyName("recv_1h")] long Recv1h,
    [property: JsonPropertyName("recv_24h")] long Recv24h)
{
    public static readonly MailCounts Zero = new(0, 0, 0, 0);
}

/// <summary>Counts lines into the 1 h and 24 h windows ending at <paramref name="now"/> (see <see cref="MailLog"/> for which lines).</summary>
internal sealed class MailTally(DateTimeOffset now, TimeZoneInfo zone)
{
    public DateTimeOffset Now => now;
    public DateTimeOffset Since24h { get; } = now.AddHours(-24);
    public DateTimeOffset Since1h { get; } = now.AddHours(-1);

    long sent1h, sent24h, recv1h, recv24h;

    public MailCounts Counts => new(sent1h, sent24h, recv1h, recv24h);

    public DateTimeOffset? TimeOf(string line) =>
        MailLog.TryParseTime(line, now, zone, out var at, out _) ? at : null;

    public void Add(string line)
    {
        if (!MailLog.TryParseTime(line, now, zone, out var at, out var rest) || at < Since24h) return;
        var recent = at >= Since1h;
        switch (MailLog.Classify(line.AsSpan(rest)))
        {
            case MailEvent.Sent:
                sent24h++;
                if (recent) sent1h++;
                break;
            case MailEvent.Received:
                recv24h++;
                if (recent) recv1h++;
                break;
        }
    }
}

/// <summary>
/// Sent / received counts for the last hour and day, read from where Postfix actually logs:
/// 1. its maillog_file (SYSROOT/var/log/postfix.log, what the panel renders): with maillog_file set,
///    Postfix logs there through postlogd and not to syslog, so the journal would hold nothing;
/// 2. else the systemd journal (journalctl, mail facility) when the host runs systemd;
/// 3. else a syslog-written SYSROOT/var/log/mail.log or maillog;
/// 4. else zeros. Never an error: the reference wants zeros when the logs cannot be read.
/// Only the tail of a log is read (back from the end until a line is older than 24 h), and the answer
/// is cached for a few seconds so a polling dashboard does not re-read the log per request.
/// </summary>
internal sealed class MailStats(MailPaths paths, Services services, TimeProvider time, ILogger<MailStats> log)
{
    public static readonly TimeSpan CacheTtl = TimeSpan.FromSeconds(5);
    static readonly TimeSpan JournalTimeout = TimeSpan.FromSeconds(20);

    readonly SemaphoreSlim gate = new(1, 1);
    (MailCounts Counts, DateTimeOffset At)? cached;

    /// <summary>Where the last count came from ("file:PATH", "journal", "none"): for logs and tests.</summary>
    public string LastSource { get; private set; } = "none";

    public void Forget() => cached = null;

    public async Task<MailCounts> Get(CancellationToken cancel)
    {
        await gate.WaitAsync(cancel);
        try
        {
            var now = time.GetUtcNow();
            if (cached is { } hit && now - hit.At < CacheTtl && now >= hit.At) return hit.Counts;
            var tally = new MailTally(now, time.LocalTimeZone);
            LastSource = await Count(tally, cancel);
            cached = (tally.Counts, now);
            return tally.Counts;
        }
        finally
        {
            gate.Release();
        }
    }

    async Task<string> Count(MailTally tally, CancellationToken cancel)
    {
        try
        {
            if (File.Exists(paths.PostfixLog))
            {
                CountFile(paths.PostfixLog, tally);
                return "file:" + paths.PostfixLog;
            }
            if (paths.IsSystemd && await CountJournal(tally, cancel)) return "journal";
            foreach (var name in (string[])["mail.log", "maillog"])
            {
                var file = Path.Combine(paths.LogDir, name);
                if (!File.Exists(file)) continue;
                CountFile(file, tally);
                return "file:" + file;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("stats: cannot read the mail log: {Error}", e.Message);
        }
        return "none";
    }

    async Task<bool> CountJournal(MailTally tally, CancellationToken cancel)
    {
        if (services.Which("journalctl") is not { } journalctl) return false;
        // SYSLOG_FACILITY=2 is LOG_MAIL: Postfix and Dovecot, whatever their syslog_name/instance is.
        var result = await Run.Exec(journalctl,
            ["--no-pager", "--quiet", "--output=short-unix", $"--since=@{tally.Since24h.ToUnixTimeSeconds()}", "SYSLOG_FACILITY=2"],
            JournalTimeout, cancel: cancel);
        if (!result.Ok)
        {
            log.LogWarning("stats: {Error}", result.Describe("journalctl"));
            return false;
        }
        foreach (var line in result.Stdout.Split('\n')) tally.Add(line);
        return true;
    }

    /// <summary>Counts the last 24 h of a log file, and of its rotated predecessor FILE.1 when the file starts inside the window.</summary>
    static void CountFile(string file, MailTally tally)
    {
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan))
        {
            var start = TailStart(stream, tally.Since24h, tally.TimeOf);
            if (start == 0 && FirstTime(stream, 0, tally.TimeOf) is { } first && first > tally.Since24h && File.Exists(file + ".1"))
                CountFile(file + ".1", tally);
            stream.Position = start;
            using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16);
            if (start > 0) reader.ReadLine(); // the partial line the seek landed in (older than the window anyway)
            while (reader.ReadLine() is { } line) tally.Add(line);
        }
    }

    /// <summary>
    /// The offset to read from: stepping back from the end in growing steps until the first whole line
    /// after the step point is older than <paramref name="since"/>; 0 when the whole file is inside the window.
    /// Logs are appended in time order, so everything before that line is older too.
    /// </summary>
    public static long TailStart(Stream stream, DateTimeOffset since, Func<string, DateTimeOffset?> timeOf)
    {
        const long Window = 64L << 10;
        var step = Window;
        var high = stream.Length; // the first line after here is inside the window (or unknown)
        while (high > 0)
        {
            var low = Math.Max(0, high - step);
            step = Math.Min(step * 2, 64L << 20);
            if (low == 0) return 0;
            if (FirstTime(stream, low, timeOf) is { } t && t < since)
            {
                // The window starts between low and high: narrow it down instead of reading up to twice the day.
                while (high - low > Window)
                {
                    var mid = low + (high - low) / 2;
                    if (FirstTime(stream, mid, timeOf) is { } m && m < since) low = mid;
                    else high = mid;
                }
                return low;
            }
            high = low;
        }
        return 0;
    }

    /// <summary>The timestamp of the first whole line at or after <paramref name="position"/> (looking at up to 64 KiB).</summary>
    static DateTimeOffset? FirstTime(Stream stream, long position, Func<string, DateTimeOffset?> timeOf)
    {
        stream.Position = position;
        var buffer = new byte[64 << 10];
        var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var span = buffer.AsSpan(0, read);
        if (position > 0)
        {
            var newline = span.IndexOf((byte)'\n');
            if (newline < 0) return null;
            span = span[(newline + 1)..];
        }
        while (span.Length > 0)
        {
            var end = span.IndexOf((byte)'\n');
            if (end < 0) return null; // no whole line left in the window
            if (timeOf(Encoding.UTF8.GetString(span[..end])) is { } t) return t;
            span = span[(end + 1)..];
        }
        return null;
    }
}
