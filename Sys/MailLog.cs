namespace MailPanel.Sys;

/// <summary>What one mail log line counts as for GET /stats/mail.</summary>
internal enum MailEvent { None, Sent, Received }

/// <summary>
/// Pure parsing of mail log lines: the timestamp (four formats) and what the line counts as.
/// Which lines count is one decision, made here:
/// - Sent = an authenticated submission: Postfix smtpd's
///   `QUEUEID: client=HOST[IP], sasl_method=PLAIN, sasl_username=USER` (one per accepted message).
///   A failed login (`warning: ...: SASL PLAIN authentication failed: ..., sasl_username=USER`) also
///   carries sasl_username= and must not count.
/// - Received = a delivery into the mailbox store, counted on the Postfix side only:
///   `.../lmtp[PID]: QUEUEID: to=&lt;USER&gt;, ... status=sent (250 ... Saved)`, one per delivered
///   recipient (sieve-filed mail included, bounces and deferrals not). Dovecot's own
///   "saved mail to" / "stored mail into mailbox" lines describe the same deliveries (and sieve can
///   log two of them for one message), so Dovecot's log is not counted: one source, nothing twice,
///   and both counters come from the same log.
/// </summary>
internal static class MailLog
{
    static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>
    /// Reads the timestamp at the start of <paramref name="line"/>; <paramref name="rest"/> is where the
    /// text after it begins. Formats:
    /// - syslog / Postfix maillog_file `Nov 24 02:32:43` (also `Nov  4`): local time, no year: the year of
    ///   <paramref name="now"/>, or the year before when that would lie more than a day in the future
    ///   (a December line read in January);
    /// - RFC 3339 `2026-11-24T02:32:43.123456+00:00` (rsyslog's high-precision format);
    /// - Dovecot log_timestamp `2026-11-24 02:32:43` (local time);
    /// - journalctl -o short-unix `1795487568.123456`.
    /// </summary>
    public static bool TryParseTime(string line, DateTimeOffset now, TimeZoneInfo zone, out DateTimeOffset at, out int rest)
    {
        at = default;
        rest = 0;
        if (line.Length < 10) return false;
        if (char.IsAsciiLetter(line[0])) return TrySyslog(line, now, zone, out at, out rest);
        if (line.Length >= 19 && line[4] == '-' && line[7] == '-' && line[13] == ':' && line[16] == ':')
        {
            if (line[10] == ' ') // Dovecot: "2026-11-24 02:32:43 "
            {
                if (!TryDigits(line, 0, 4, out var y) || !TryDigits(line, 5, 2, out var mo) || !TryDigits(line, 8, 2, out var d)
                    || !TryDigits(line, 11, 2, out var h) || !TryDigits(line, 14, 2, out var mi) || !TryDigits(line, 17, 2, out var s))
                    return false;
                rest = 19;
                return TryLocal(y, mo, d, h, mi, s, zone, out at);
            }
            if (line[10] == 'T') // RFC 3339, up to the first space
            {
                var end = line.IndexOf(' ', StringComparison.Ordinal);
                if (end < 0) return false;
                rest = end;
                return DateTimeOffset.TryParse(line.AsSpan(0, end), System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.None, out at);
            }
            return false;
        }
        if (char.IsAsciiDigit(line[0])) // short-unix: seconds[.micros]
        {
            var end = line.IndexOf(' ', StringComparison.Ordinal);
            if (end <= 0) return false;
            var dot = line.IndexOf('.', 0, end);
            if (!long.TryParse(line.AsSpan(0, dot < 0 ? end : dot), System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds > 253_402_300_799)
                return false;
            rest = end;
            at = DateTimeOffset.FromUnixTimeSeconds(seconds);
            return true;
        }
        return false;
    }

    static bool TrySyslog(string line, DateTimeOffset now, TimeZoneInfo zone, out DateTimeOffset at, out int rest)
    {
        at = default;
        rest = 0;
        if (line.Length < 15 || line[3] != ' ') return false;
        var month = Array.IndexOf(Months, line[..3]) + 1;
        if (month == 0) return false;
        var i = 4;
        if (line[i] == ' ') i++; // "Nov  4"
        var dayStart = i;
        while (i < line.Length && char.IsAsciiDigit(line[i]) && i - dayStart < 2) i++;
        if (i == dayStart || !TryDigits(line, dayStart, i - dayStart, out var day)) return false;
        if (i + 9 > line.Length || line[i] != ' ' || line[i + 3] != ':' || line[i + 6] != ':') return false;
        if (!TryDigits(line, i + 1, 2, out var h) || !TryDigits(line, i + 4, 2, out var mi) || !TryDigits(line, i + 7, 2, out var s)) return false;
        rest = i + 9;
        var localNow = TimeZoneInfo.ConvertTime(now, zone);
        if (!TryLocal(localNow.Year, month, day, h, mi, s, zone, out at)) return TryLocal(localNow.Year - 1, month, day, h, mi, s, zone, out at); // Feb 29
        if (at > now.AddDays(1)) return TryLocal(localNow.Year - 1, month, day, h, mi, s, zone, out at);
        return true;
    }

    static bool TryLocal(int y, int mo, int d, int h, int mi, int s, TimeZoneInfo zone, out DateTimeOffset at)
    {
        at = default;
        if (y < 1 || y > 9998 || mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return false;
        var local = new DateTime(y, mo, d, h, mi, s, DateTimeKind.Unspecified);
        at = new DateTimeOffset(local, zone.GetUtcOffset(local)); // in a DST gap: the standard offset
        return true;
    }

    static bool TryDigits(string text, int start, int count, out int value)
    {
        value = 0;
        if (start + count > text.Length) return false;
        for (var i = start; i < start + count; i++)
        {
            if (!char.IsAsciiDigit(text[i])) return false;
            value = value * 10 + (text[i] - '0');
        }
        return true;
    }

    /// <summary>
    /// What the text after the timestamp (" HOST TAG[PID]: MESSAGE") counts as. TAG is Postfix's
    /// syslog_name/service ("postfix/smtpd", "postfix-main/submission/smtpd", "postfix/lmtp").
    /// </summary>
    public static MailEvent Classify(ReadOnlySpan<char> afterTime)
    {
        var text = afterTime.TrimStart(' ');
        var space = text.IndexOf(' '); // skip the host name
        if (space < 0) return MailEvent.None;
        text = text[(space + 1)..];
        var colon = text.IndexOf(": ");
        if (colon <= 0) return MailEvent.None;
        var tag = text[..colon];
        var bracket = tag.IndexOf('[');
        if (bracket >= 0) tag = tag[..bracket];
        var message = text[(colon + 2)..];
        if (tag.EndsWith("/smtpd", StringComparison.Ordinal))
            return QueueIdThen(message, "client=", out var fields) && fields.Contains(", sasl_username=", StringComparison.Ordinal)
                ? MailEvent.Sent : MailEvent.None;
        if (tag.EndsWith("/lmtp", StringComparison.Ordinal))
            return QueueIdThen(message, "to=<", out var fields) && fields.Contains(", status=sent ", StringComparison.Ordinal)
                ? MailEvent.Received : MailEvent.None;
        return MailEvent.None;
    }

    /// <summary>MESSAGE is "QUEUEID: PREFIX...": a queue id (letters and digits) right before the fields.</summary>
    static bool QueueIdThen(ReadOnlySpan<char> message, string prefix, out ReadOnlySpan<char> fields)
    {
        fields = default;
        var i = 0;
        while (i < message.Length && char.IsAsciiLetterOrDigit(message[i])) i++;
        if (i < 5 || !message[i..].StartsWith(": ", StringComparison.Ordinal)) return false;
        fields = message[(i + 2)..];
        return fields.StartsWith(prefix, StringComparison.Ordinal);
    }
}
