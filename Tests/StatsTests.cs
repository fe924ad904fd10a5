using System.Globalization;
using System.Net;
using System.Text;

namespace MailPanel.Tests;

public class StatsTests
{
    // Real lines from the sandboxed Postfix 3.7 / Dovecot 2.3 run (/work/proto/mailstack/e2e.log, root/var/log/*.log).
    const string Submission = "Nov 24 02:37:19 mail postfix-proto/submission/smtpd[23491]: 1AD91512143: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob@example.com";
    const string FailedAuth = "Nov 24 02:37:21 mail postfix-proto/submission/smtpd[23491]: warning: unknown[127.0.0.60]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=bob@example.com";
    const string LmtpSent = "Nov 24 02:36:52 mail postfix-proto/lmtp[22705]: 2D14E51211C: to=<alice@example.com>, relay=mail.example.com[/work/proto/mailstack/root/var/spool/postfix/private/dovecot-lmtp], delay=0.04, delays=0.01/0.01/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 <alice@example.com> NvYeDET4BGuyWAAAg+zDdQ Saved)";
    const string LmtpAlias = "Nov 24 02:36:52 mail postfix-proto/lmtp[22705]: 5A69151211C: to=<alice@example.com>, orig_to=<team@example.com>, relay=mail.example.com[/work/proto/mailstack/root/var/spool/postfix/private/dovecot-lmtp], delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 <alice@example.com> IGddFkT4BGuyWAAAg+zDdQ Saved)";
    const string LmtpBounced = "Nov 24 02:37:18 mail postfix-proto/lmtp[22705]: 8AD5D51213B: to=<tiny@example.com>, relay=mail.example.com[/x/private/dovecot-lmtp], delay=0.01, delays=0/0/0/0, dsn=5.2.2, status=bounced (host mail.example.com[/x/private/dovecot-lmtp] said: 552 5.2.2 <tiny@example.com> Quota exceeded (mailbox for user is full) (in reply to end of DATA command))";
    const string SmtpRelayed = "Nov 24 02:37:26 mail postfix-proto/smtp-ip2/smtp[23679]: F2AFA51214A: to=<x@[127.0.0.9]>, relay=127.0.0.9[127.0.0.9]:25, delay=0.01, delays=0/0.01/0/0, dsn=2.0.0, status=sent (250 queued)";
    const string Deferred = "Nov 24 02:45:01 mail postfix-proto/smtp[24001]: 3C67B51214A: to=<user@deadhost.test>, relay=none, delay=0.01, delays=0/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:1: Connection refused)";
    const string PortTwentyFive = "Nov 24 02:36:52 mail postfix-proto/smtpd[22690]: 2D14E51211C: client=localhost[127.0.0.1]";
    const string DovecotSaved = "2026-11-24 02:32:16 lmtp(alice@example.com)<12679><7A5LHzD3BGuHMQAAg+zDdQ>: Info: msgid=<20261124023216.012676@vm>: saved mail to INBOX";
    const string DovecotSieve = "2026-11-24 02:37:24 lmtp(bob@example.com)<22717><0Eb+CGT4BGu9WAAAg+zDdQ>: Info: sieve: msgid=<20261124023724.023571@vm>: fileinto action: stored mail into mailbox 'Junk'";

    static readonly DateTimeOffset Now = new(2026, 11, 24, 3, 0, 0, TimeSpan.Zero);
    static readonly TimeZoneInfo Utc = TimeZoneInfo.Utc;

    static MailEvent Event(string line) =>
        MailLog.TryParseTime(line, Now, Utc, out _, out var rest) ? MailLog.Classify(line.AsSpan(rest)) : throw new InvalidOperationException("no time: " + line);

    // ---- which lines count

    [Fact]
    public void AnAuthenticatedSubmissionCountsAsSent() => Assert.Equal(MailEvent.Sent, Event(Submission));

    [Fact]
    public void AFailedLoginIsNotASubmission() => Assert.Equal(MailEvent.None, Event(FailedAuth));

    [Fact]
    public void AnUnauthenticatedSmtpClientIsNotASubmission() => Assert.Equal(MailEvent.None, Event(PortTwentyFive));

    [Fact]
    public void AnLmtpDeliveryCountsAsReceivedAliasesIncluded()
    {
        Assert.Equal(MailEvent.Received, Event(LmtpSent));
        Assert.Equal(MailEvent.Received, Event(LmtpAlias));
    }

    [Theory]
    [InlineData(LmtpBounced)]
    [InlineData(SmtpRelayed)]   // left for a remote host: not a delivery into the store
    [InlineData(Deferred)]
    [InlineData(DovecotSaved)]  // the same deliveries seen from Dovecot: counted once, on the Postfix side
    [InlineData(DovecotSieve)]
    [InlineData("Nov 24 02:36:52 mail postfix-proto/postfix-script[20935]: starting the Postfix mail system")]
    [InlineData("Nov 24 02:36:52 mail postfix-proto/lmtp[22705]: warning: status=sent fake")]
    public void OtherLinesCountAsNothing(string line) => Assert.Equal(MailEvent.None, Event(line));

    [Fact]
    public void JournalShortUnixLinesClassifyTheSameWay()
    {
        Assert.Equal(MailEvent.Sent, Event("1795487839.123456 mail postfix/submission/smtpd[23491]: 1AD91512143: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob@example.com"));
        Assert.Equal(MailEvent.Received, Event("1795487812.000001 mail postfix/lmtp[22705]: 2D14E51211C: to=<alice@example.com>, relay=x[/p], delay=0.04, dsn=2.0.0, status=sent (250 2.0.0 Saved)"));
        Assert.Equal(MailEvent.None, Event("1795487841 mail postfix/submission/smtpd[23491]: warning: unknown[127.0.0.60]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=bob@example.com"));
    }

    // ---- timestamps

    [Theory]
    [InlineData("Nov 24 02:37:19 mail x[1]: y", "2026-11-24T02:37:19+00:00")]
    [InlineData("Nov  4 02:37:19 mail x[1]: y", "2026-11-04T02:37:19+00:00")]
    [InlineData("Nov 04 02:37:19 mail x[1]: y", "2026-11-04T02:37:19+00:00")]
    [InlineData("Nov 25 02:59:00 mail x[1]: y", "2026-11-25T02:59:00+00:00")]  // less than a day ahead: clock skew, same year
    [InlineData("Nov 26 02:59:00 mail x[1]: y", "2025-11-26T02:59:00+00:00")]  // more than a day ahead: last year
    [InlineData("2026-11-24 02:32:16 lmtp(a@b)<1><x>: Info: z", "2026-11-24T02:32:16+00:00")]
    [InlineData("2026-11-24T02:32:16.123456+01:00 mail postfix/smtpd[1]: z", "2026-11-24T02:32:16.123456+01:00")]
    [InlineData("1795487568.123456 mail postfix/smtpd[1]: z", "2026-11-24T02:32:48+00:00")]
    [InlineData("1795487568 mail postfix/smtpd[1]: z", "2026-11-24T02:32:48+00:00")]
    public void ParsesEveryTimestampFormat(string line, string expected)
    {
        Assert.True(MailLog.TryParseTime(line, Now, Utc, out var at, out var rest));
        Assert.Equal(DateTimeOffset.Parse(expected, CultureInfo.InvariantCulture), at);
        Assert.StartsWith(" ", line[rest..]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage line")]
    [InlineData("Foo 24 02:37:19 mail x")]
    [InlineData("Nov 32 02:37:19 mail x")]
    [InlineData("Nov 24 25:37:19 mail x")]
    [InlineData("Nov 24 02:37 mail x[1]: y")]
    [InlineData("2026-13-24 02:32:16 x")]
    [InlineData("99999999999999999999 mail x")]
    [InlineData("-- No entries --")]
    public void RejectsLinesWithoutATimestamp(string line) => Assert.False(MailLog.TryParseTime(line, Now, Utc, out _, out _));

    [Fact]
    public void ADecemberLineReadInJanuaryIsFromLastYear()
    {
        var newYear = new DateTimeOffset(2027, 1, 1, 0, 10, 0, TimeSpan.Zero);
        Assert.True(MailLog.TryParseTime("Dec 31 23:59:30 mail x[1]: y", newYear, Utc, out var at, out _));
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 23, 59, 30, TimeSpan.Zero), at);
        var tally = new MailTally(newYear, Utc);
        tally.Add(Submission.Replace("Nov 24 02:37:19", "Dec 31 23:59:30", StringComparison.Ordinal));
        Assert.Equal(new MailCounts(1, 1, 0, 0), tally.Counts);
    }

    [Fact]
    public void Feb29OfALeapYearReadInTheNextYear()
    {
        var march = new DateTimeOffset(2029, 3, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.True(MailLog.TryParseTime("Feb 29 12:00:00 mail x[1]: y", march, Utc, out var at, out _));
        Assert.Equal(new DateTimeOffset(2028, 2, 29, 12, 0, 0, TimeSpan.Zero), at);
        // Neither 2027 nor 2026 has a Feb 29: such a line is years old and outside any window.
        Assert.False(MailLog.TryParseTime("Feb 29 12:00:00 mail x[1]: y", new DateTimeOffset(2027, 3, 1, 0, 0, 0, TimeSpan.Zero), Utc, out _, out _));
    }

    [Fact]
    public void SyslogTimesAreHostLocalTime()
    {
        var zone = TimeZoneInfo.CreateCustomTimeZone("plus2", TimeSpan.FromHours(2), "plus2", "plus2");
        Assert.True(MailLog.TryParseTime("Nov 24 05:00:00 mail x[1]: y", Now, zone, out var at, out _));
        Assert.Equal(Now, at);
        Assert.True(MailLog.TryParseTime("2026-11-24 05:00:00 lmtp(x)", Now, zone, out at, out _));
        Assert.Equal(Now, at);
    }

    // ---- windows

    static string At(DateTimeOffset t, string line) =>
        t.ToString("MMM dd HH:mm:ss", CultureInfo.InvariantCulture) + line[15..];

    [Fact]
    public void CountsFallIntoTheOneHourAndDayWindows()
    {
        var tally = new MailTally(Now, Utc);
        tally.Add(At(Now.AddMinutes(-5), Submission));        // 1h + 24h
        tally.Add(At(Now.AddMinutes(-59), Submission));       // 1h + 24h
        tally.Add(At(Now.AddMinutes(-61), Submission));       // 24h
        tally.Add(At(Now.AddHours(-23), FailedAuth));         // nothing
        tally.Add(At(Now.AddHours(-25), Submission));         // too old
        tally.Add(At(Now.AddMinutes(-1), LmtpSent));          // 1h + 24h
        tally.Add(At(Now.AddHours(-2), LmtpAlias));           // 24h
        tally.Add(At(Now.AddHours(-2), LmtpBounced));         // nothing
        tally.Add(At(Now.AddHours(-2), DovecotSaved));        // nothing (the year-format line is not a Postfix line anyway)
        tally.Add("not a log line");
        Assert.Equal(new MailCounts(2, 3, 1, 2), tally.Counts);
    }

    [Fact]
    public void TheTailReaderStartsBeforeTheWindowAndReadsNoMoreThanItNeeds()
    {
        // 3 days of log, a submission and a delivery every 10 s: about 18 MB. Only the last day may be read.
        var tally = new MailTally(Now, Utc);
        var text = new StringBuilder();
        var start = Now.AddDays(-3);
        for (var t = start; t < Now; t = t.AddSeconds(10))
            text.Append(At(t, Submission)).Append('\n').Append(At(t.AddSeconds(5), LmtpSent)).Append('\n');
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
        var offset = MailStats.TailStart(stream, tally.Since24h, tally.TimeOf);
        Assert.True(offset > stream.Length / 2, $"offset {offset} of {stream.Length}");
        stream.Position = offset;
        using var reader = new StreamReader(stream);
        reader.ReadLine();
        var first = tally.TimeOf(reader.ReadLine()!)!.Value;
        Assert.True(first < tally.Since24h, "starts before the window");
        Assert.True(first > tally.Since24h.AddHours(-1), $"reads hardly more than the window, started at {first}");
        while (reader.ReadLine() is { } line) tally.Add(line);
        Assert.Equal(new MailCounts(360, 8640, 360, 8640), tally.Counts);
    }

    // ---- GET /api/v1/stats/mail

    static string Local(DateTimeOffset t, string line) =>
        At(TimeZoneInfo.ConvertTime(t, TimeZoneInfo.Local), line);

    static void WriteLog(TestServer s, string file, IEnumerable<string> lines)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, string.Join('\n', lines) + "\n");
        s.Get<MailStats>().Forget();
    }

    [Fact]
    public async Task StatsCountThePostfixLogUnderSysroot()
    {
        await using var s = await TestServer.Start();
        var now = DateTimeOffset.UtcNow;
        WriteLog(s, s.Get<MailPaths>().PostfixLog,
        [
            Local(now.AddHours(-30), Submission),
            Local(now.AddHours(-3), Submission),
            Local(now.AddHours(-3), LmtpSent),
            Local(now.AddMinutes(-10), Submission),
            Local(now.AddMinutes(-10), FailedAuth),
            Local(now.AddMinutes(-10), LmtpSent),
            Local(now.AddMinutes(-10), LmtpAlias),
            Local(now.AddMinutes(-9), LmtpBounced),
        ]);
        WriteLog(s, s.Get<MailPaths>().DovecotLog, [DovecotSaved, DovecotSieve]);
        var r = await s.Get("/api/v1/stats/mail");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"sent_1h":1,"sent_24h":2,"recv_1h":2,"recv_24h":3}""", r.Json.ToJsonString());
        Assert.Equal("file:" + s.Get<MailPaths>().PostfixLog, s.Get<MailStats>().LastSource);
    }

    [Fact]
    public async Task StatsAreZerosWhenNoLogCanBeRead()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s); // no journalctl either
        var r = await s.Get("/api/v1/stats/mail");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"sent_1h":0,"sent_24h":0,"recv_1h":0,"recv_24h":0}""", r.Json.ToJsonString());
        Assert.Equal("none", s.Get<MailStats>().LastSource);
    }

    [Fact]
    public async Task StatsAreZerosWhenTheLogIsUnreadable()
    {
        await using var s = await TestServer.Start();
        Directory.CreateDirectory(s.Get<MailPaths>().PostfixLog); // a directory where the file should be
        var r = await s.Get("/api/v1/stats/mail");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"sent_1h":0,"sent_24h":0,"recv_1h":0,"recv_24h":0}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task StatsFallBackToASyslogMailLog()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s);
        var now = DateTimeOffset.UtcNow;
        WriteLog(s, Path.Combine(s.Get<MailPaths>().LogDir, "mail.log"),
            [Local(now.AddMinutes(-2), Submission), Local(now.AddHours(-2), LmtpSent)]);
        var r = await s.Get("/api/v1/stats/mail");
        Assert.Equal("""{"sent_1h":1,"sent_24h":1,"recv_1h":0,"recv_24h":1}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task StatsReadTheJournalOnASystemdHostWithoutAPostfixLogFile()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        Directory.CreateDirectory(s.Get<MailPaths>().SystemdRunDir);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        FakeTools.Script(bin, "journalctl", $"""
            echo '{now - 60}.000001 mail postfix/submission/smtpd[1]: 1AD91512143: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob@example.com'
            echo '{now - 7200}.5 mail postfix/lmtp[2]: 2D14E51211C: to=<alice@example.com>, relay=x[/p], dsn=2.0.0, status=sent (250 2.0.0 Saved)'
            echo '{now - 30} mail postfix/submission/smtpd[1]: warning: unknown[127.0.0.60]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=bob@example.com'
            """);
        // a mail.log that must NOT be counted on top of the journal
        WriteLog(s, Path.Combine(s.Get<MailPaths>().LogDir, "mail.log"), [Local(DateTimeOffset.UtcNow.AddMinutes(-2), Submission)]);
        var r = await s.Get("/api/v1/stats/mail");
        Assert.Equal("""{"sent_1h":1,"sent_24h":1,"recv_1h":0,"recv_24h":1}""", r.Json.ToJsonString());
        var call = Assert.Single(FakeTools.Calls(bin, "journalctl"));
        Assert.Matches(@"^--no-pager --quiet --output=short-unix --since=@\d+ SYSLOG_FACILITY=2$", call);
        var since = long.Parse(call.Split("--since=@")[1].Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.InRange(since, now - 86400 - 5, now - 86400 + 5);
    }

    [Fact]
    public async Task StatsFallBackToFilesWhenJournalctlFails()
    {
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        Directory.CreateDirectory(s.Get<MailPaths>().SystemdRunDir);
        FakeTools.Script(bin, "journalctl", "echo 'No journal files were found.' >&2\nexit 1");
        WriteLog(s, Path.Combine(s.Get<MailPaths>().LogDir, "maillog"), [Local(DateTimeOffset.UtcNow.AddMinutes(-2), Submission)]);
        var r = await s.Get("/api/v1/stats/mail");
        Assert.Equal("""{"sent_1h":1,"sent_24h":1,"recv_1h":0,"recv_24h":0}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task StatsPreferThePostfixLogFileOverTheJournal()
    {
        // With maillog_file set, Postfix logs only to that file: the journal has nothing to add.
        await using var s = await TestServer.Start();
        var bin = FakeTools.Bin(s);
        Directory.CreateDirectory(s.Get<MailPaths>().SystemdRunDir);
        FakeTools.Script(bin, "journalctl", "exit 0");
        WriteLog(s, s.Get<MailPaths>().PostfixLog, [Local(DateTimeOffset.UtcNow.AddMinutes(-2), LmtpSent)]);
        var r = await s.Get("/api/v1/stats/mail");
        Assert.Equal("""{"sent_1h":0,"sent_24h":0,"recv_1h":1,"recv_24h":1}""", r.Json.ToJsonString());
        Assert.Empty(FakeTools.Calls(bin, "journalctl"));
    }

    [Fact]
    public async Task StatsIncludeTheRotatedLogWhenTheCurrentOneStartsInsideTheWindow()
    {
        await using var s = await TestServer.Start();
        var now = DateTimeOffset.UtcNow;
        var log = s.Get<MailPaths>().PostfixLog;
        WriteLog(s, log + ".1", [Local(now.AddHours(-30), Submission), Local(now.AddHours(-5), Submission)]);
        WriteLog(s, log, [Local(now.AddHours(-2), Submission)]);
        var r = await s.Get("/api/v1/stats/mail");
        Assert.Equal("""{"sent_1h":0,"sent_24h":2,"recv_1h":0,"recv_24h":0}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task StatsAreCachedForAFewSeconds()
    {
        await using var s = await TestServer.Start();
        var log = s.Get<MailPaths>().PostfixLog;
        WriteLog(s, log, [Local(DateTimeOffset.UtcNow.AddMinutes(-2), Submission)]);
        Assert.Equal(1, (int)(await s.Get("/api/v1/stats/mail")).Json["sent_1h"]!);
        File.AppendAllText(log, Local(DateTimeOffset.UtcNow.AddMinutes(-1), Submission) + "\n");
        Assert.Equal(1, (int)(await s.Get("/api/v1/stats/mail")).Json["sent_1h"]!); // cached
        s.Get<MailStats>().Forget();
        Assert.Equal(2, (int)(await s.Get("/api/v1/stats/mail")).Json["sent_1h"]!);
    }

    [Fact]
    public async Task StatsNeedCredentials()
    {
        await using var s = await TestServer.Start();
        using var anonymous = s.Anonymous();
        (await TestServer.Send(anonymous, HttpMethod.Get, "/api/v1/stats/mail")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }
}
