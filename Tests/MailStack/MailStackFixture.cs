using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// All real-mail-stack tests share ONE sandboxed Postfix + Dovecot (starting them costs about a
/// second, and xunit runs the tests of one collection one after another, so they never race on
/// global config). Each test uses its own domains.
/// </summary>
[CollectionDefinition(Name)]
public sealed class MailStackCollection : ICollectionFixture<MailStackFixture>
{
    public const string Name = "mail stack";
}

/// <summary>
/// A [Fact] that needs root and the mail-stack binaries. Where they are missing it is skipped,
/// except under CI=true, where it runs and fails: CI installs them, so missing means broken.
/// </summary>
public sealed class MailStackFactAttribute : FactAttribute
{
    public MailStackFactAttribute()
    {
        if (MailStackFixture.Missing() is { } missing && !MailStackFixture.InCi) Skip = $"mail stack not available: {missing}";
    }
}

/// <summary>
/// Starts a TestServer with its own SYSROOT and free loopback ports, applies the first reconcile,
/// then starts `dovecot -c` and `postfix -c DIR start`; stops both by their own pid files on dispose.
/// </summary>
public class MailStackFixture : IAsyncLifetime
{
    public string LastReconcile { get; private set; } = "";

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    static readonly string[] Binaries = ["postfix", "postmap", "postconf", "dovecot", "doveadm", "doveconf", "swaks", "curl"];

    /// <summary>What is missing for the real stack (null = all there).</summary>
    public static string? Missing()
    {
        if (!Posix.IsRoot) return "tests are not running as root";
        var missing = Binaries.Where(b => MailPanel.Sys.Run.Which(b) is null).ToList();
        if (missing.Count > 0) return "missing binaries: " + string.Join(", ", missing);
        if (Posix.LookupUser("vmail") is null) return "no vmail user";
        if (!File.Exists("/usr/lib/dovecot/lmtp")) return "dovecot-lmtpd is not installed";
        return null;
    }

    public TestServer Server { get; private set; } = null!;
    public int SmtpPort { get; private set; }
    public int SubmissionPort { get; private set; }
    public int ImapPort { get; private set; }
    public int Pop3Port { get; private set; }
    public int ImapsPort { get; private set; }
    public int Pop3sPort { get; private set; }
    public string PostfixDir => Path.Combine(Server.Config.SysRoot, "etc/postfix");
    public string DovecotConf => Path.Combine(Server.Config.SysRoot, "etc/dovecot/dovecot.conf");
    public string VmailDir => Server.Config.VmailDir;
    internal MailPanel.Mail.MailStack Stack => Server.Get<MailPanel.Mail.MailStack>();

    /// <summary>Loopback source addresses for logins expected to fail: Dovecot slows a source down after a failure.</summary>
    int nextSource = 20;

    public string FreshSource() => $"127.0.0.{Interlocked.Increment(ref nextSource) % 200 + 20}";

    public virtual async Task InitializeAsync()
    {
        if (Missing() is { } missing)
        {
            if (InCi) throw new InvalidOperationException($"CI=true but the mail stack cannot run: {missing}");
            return; // every test is skipped by MailStackFact
        }
        var ports = FreePorts(6);
        (SmtpPort, SubmissionPort, ImapPort, Pop3Port, ImapsPort, Pop3sPort) = (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
        // SYSROOT under /run, not /tmp: OpenDKIM refuses a key with a world-writable ancestor (RequireSafeKeys).
        Directory.CreateDirectory("/run/mp", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Server = await TestServer.Start("MailStack", $"""
            SYSROOT=/run/mp/{Guid.NewGuid().ToString("N")[..12]}
            MAIL_HOSTNAME=mail.panel.test
            SMTP_LISTEN=127.0.0.1:{SmtpPort}
            SUBMISSION_LISTEN=127.0.0.1:{SubmissionPort}
            IMAP_LISTEN=127.0.0.1:{ImapPort}
            POP3_LISTEN=127.0.0.1:{Pop3Port}
            IMAPS_LISTEN=127.0.0.1:{ImapsPort}
            POP3S_LISTEN=127.0.0.1:{Pop3sPort}
            """);
        // Only 127.0.0.1 relays: other loopback sources play "the internet" (relay refused, rate limits apply).
        var global = (await Server.Get("/api/v1/config/global")).Json.AsObject();
        global["relay_networks"] = "127.0.0.1/32";
        global["message_size_limit"] = 1048576;
        var put = await Server.Put("/api/v1/config/global", global.ToJsonString());
        put.AssertStatus(HttpStatusCode.OK);
        await Reconcile();

        try
        {
            await StartDaemons();
        }
        catch
        {
            await DisposeAsync(); // xunit does not dispose a fixture whose initialisation failed
            throw;
        }
    }

    /// <summary>A resolv.conf for this sandbox's Postfix alone (null: the host's); set before <see cref="InitializeAsync"/>.</summary>
    protected string? PostfixResolvConf { get; set; }

    public string OpenDkimConf => Path.Combine(Server.Config.SysRoot, "etc/opendkim/opendkim.conf");

    string OpenDkimPidFile => Path.Combine(Server.Config.SysRoot, "run/opendkim/opendkim.pid");

    string OpenDmarcPidFile => Path.Combine(Server.Config.SysRoot, "run/opendmarc/opendmarc.pid");

    /// <summary>OpenDMARC runs beside OpenDKIM when it is installed (CI installs it).</summary>
    public static bool HasOpenDmarc => MailPanel.Sys.Run.Which("opendmarc") is not null;

    /// <summary>OpenDKIM runs beside Postfix when it is installed (CI installs it): the milter the rendered main.cf names.</summary>
    public static bool HasOpenDkim => MailPanel.Sys.Run.Which("opendkim") is not null;

    /// <summary>spamd (SpamAssassin) is installed: the fixture runs one on <see cref="SpamdPort"/> (the spam tests point spam_remote_host/port at it).</summary>
    public static bool HasSpamd => MailPanel.Sys.Run.Which("spamd") is not null;

    /// <summary>clamd is installed: the fixture runs one on the Debian socket path under SYSROOT, with only <see cref="VirusSignature"/> to find.</summary>
    public static bool HasClamd => MailPanel.Sys.Run.Which("clamd") is not null;

    public int SpamdPort { get; private set; }

    /// <summary>The one signature the sandboxed clamd loads (no signature downloads here): a message containing it is a virus.</summary>
    public const string VirusSignature = "MAILPANEL-TEST-VIRUS-SIGNATURE-7f3a91";

    string SpamdPidFile => Path.Combine(Server.Config.SysRoot, "run/spamd.pid");

    string ClamdPidFile => Path.Combine(Server.Config.SysRoot, "run/clamav/clamd.pid");

    /// <summary>spamd on a free loopback port and clamd on SYSROOT/run/clamav/clamd.ctl, started without waiting (spamd takes seconds to load its rules).</summary>
    async Task StartScanners()
    {
        if (HasSpamd)
        {
            SpamdPort = FreePorts(1)[0];
            Must(await Daemon("spamd", "--listen", $"127.0.0.1:{SpamdPort}", "--pidfile", SpamdPidFile, "-d", "--nouser-config", "-u", "nobody",
                "-x", "--max-children", "2", "-s", Path.Combine(Server.Config.SysRoot, "var/log/spamd.log")), "spamd start");
        }
        if (HasClamd)
        {
            var dir = Path.Combine(Server.Config.SysRoot, "run/clamav");
            var db = Path.Combine(Server.Config.SysRoot, "var/lib/clamav");
            Directory.CreateDirectory(dir);
            Directory.CreateDirectory(db);
            File.WriteAllText(Path.Combine(db, "mailpanel-test.ndb"), $"MailPanel.Test.Virus:0:*:{Convert.ToHexStringLower(Encoding.ASCII.GetBytes(VirusSignature))}\n");
            var conf = Path.Combine(Server.Config.SysRoot, "etc/clamd.conf");
            File.WriteAllText(conf, $"""
                LocalSocket {Path.Combine(dir, "clamd.ctl")}
                PidFile {ClamdPidFile}
                DatabaseDirectory {db}
                LogFile {Path.Combine(Server.Config.SysRoot, "var/log/clamd.log")}
                Foreground false
                ScanMail true

                """);
            Must(await Daemon("clamd", "-c", conf), "clamd start");
        }
    }

    async Task StartDaemons()
    {
        await StartScanners();
        if (HasOpenDkim)
        {
            Must(await Daemon("opendkim", "-x", OpenDkimConf), "opendkim start");
            await WaitUntil(() => Task.FromResult(File.Exists(Path.Combine(Server.Config.SysRoot, "run/opendkim/opendkim.sock"))), "opendkim socket");
        }
        if (HasOpenDmarc)
        {
            Must(await Daemon("opendmarc", "-c", Path.Combine(Server.Config.SysRoot, "etc/opendmarc/opendmarc.conf")), "opendmarc start");
            await WaitUntil(() => Task.FromResult(File.Exists(Path.Combine(Server.Config.SysRoot, "run/opendmarc/opendmarc.sock"))), "opendmarc socket");
        }
        Must(await Daemon("dovecot", "-c", DovecotConf), "dovecot start");
        await WaitUntil(() => Task.FromResult(File.Exists(Path.Combine(Server.Config.SysRoot, "var/spool/postfix/private/dovecot-lmtp"))), "dovecot lmtp socket");
        // A private mount namespace with PostfixResolvConf bound over /etc/resolv.conf: this Postfix (the
        // master and every process it forks) asks that resolver; the host's stays untouched.
        var start = PostfixResolvConf is { } resolvConf
            ? await Daemon("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount --bind \"$0\" /etc/resolv.conf && exec postfix -c \"$1\" start", resolvConf, PostfixDir)
            : await Daemon("postfix", "-c", PostfixDir, "start");
        Must(start, "postfix start");
        try
        {
            await WaitUntil(() => Task.FromResult(CanConnect(SmtpPort) && CanConnect(ImapPort)), "smtp and imap listeners");
        }
        catch (TimeoutException e)
        {
            var log = Path.Combine(Server.Config.SysRoot, "var/log");
            var tails = string.Join("\n", Directory.GetFiles(log).Select(f => f + ":\n" + string.Join("\n", File.ReadLines(f).TakeLast(15))));
            throw new TimeoutException($"{e.Message}; postfix start said: {start.Stdout}{start.Stderr}\n{tails}");
        }
    }

    string DovecotPidFile => Path.Combine(Server.Config.SysRoot, "run/dovecot/master.pid");

    /// <summary>Stops this sandbox's Dovecot (by its own pid file) and waits until it is gone.</summary>
    public async Task StopDovecot()
    {
        if (!int.TryParse(File.ReadAllText(DovecotPidFile).Trim(), out var pid)) throw new InvalidOperationException("no dovecot pid");
        Posix.Kill(pid, 15);
        await WaitUntil(() => Task.FromResult(!Posix.IsAlive(pid)), "dovecot to stop");
    }

    public async Task StartDovecot()
    {
        Must(await Daemon("dovecot", "-c", DovecotConf), "dovecot start");
        await WaitUntil(() => Task.FromResult(CanConnect(ImapPort)), "dovecot listening again");
    }

    /// <summary>postqueue -f: deliver what waits in the queue now.</summary>
    public async Task FlushQueue() => Must(await MailPanel.Sys.Run.Exec("postqueue", ["-c", PostfixDir, "-f"]), "postqueue -f");

    public virtual async Task DisposeAsync()
    {
        if (Server is null) return;
        await Daemon("postfix", "-c", PostfixDir, "stop");
        foreach (var pidFile in new[] { Path.Combine(Server.Config.SysRoot, "run/dovecot/master.pid"), OpenDkimPidFile, OpenDmarcPidFile, SpamdPidFile, ClamdPidFile })
        {
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) continue;
            Posix.Kill(pid, 15); // never by name: other sandboxes may be running
            for (var i = 0; i < 50 && Posix.IsAlive(pid); i++) await Task.Delay(100);
        }
        await Server.DisposeAsync();
    }

    /// <summary>
    /// Starts a daemon with stdio on /dev/null: a forked master that kept the runner's pipes open
    /// would make the runner wait for an end of output that never comes.
    /// </summary>
    static Task<RunResult> Daemon(string program, params string[] args) =>
        MailPanel.Sys.Run.Exec("sh", ["-c", "exec \"$@\" </dev/null >/dev/null 2>&1", "sh", program, .. args], TimeSpan.FromSeconds(30));

    static void Must(RunResult r, string what)
    {
        if (!r.Ok) throw new InvalidOperationException($"{what}: {r.Describe(what)}");
    }

    /// <summary>POST /system/reconcile: after a mutation, this is the point from which the change is live.</summary>
    public async Task<Response> Reconcile()
    {
        var r = await Server.Post("/api/v1/system/reconcile");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        LastReconcile = r.Body;
        return r;
    }

    public async Task WaitUntil(Func<Task<bool>> condition, string what, int timeoutMs = 15000, string? logs = null)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"timed out waiting for {what}" + (logs is null ? "" : "\n" + LogLines(logs) + "\nlast reconcile: " + LastReconcile));
            await Task.Delay(50);
        }
    }

    static bool CanConnect(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>swaks to the SMTP port (or submission); returns its exit code and full transcript.</summary>
    internal async Task<RunResult> Swaks(string to, string from = "sender@outside.test", string? subject = null, string? source = null,
        bool submission = false, string? authUser = null, string? authPassword = null, string? bodyFile = null, bool quitAfterRcpt = false,
        bool tls = false, IEnumerable<string>? headers = null, string? body = null)
    {
        List<string> args = ["--server", $"127.0.0.1:{(submission ? SubmissionPort : SmtpPort)}", "--to", to, "--from", from,
            "--helo", "client.test", "--timeout", "20"];
        foreach (var header in headers ?? []) args.AddRange(["--add-header", header]);
        if (body is not null) args.AddRange(["--body", body]);
        if (tls) args.Add("--tls"); // STARTTLS, required to succeed
        if (subject is not null) args.AddRange(["--header", $"Subject: {subject}"]);
        if (source is not null) args.AddRange(["--local-interface", source]);
        if (authUser is not null) args.AddRange(["--auth", "PLAIN", "--auth-user", authUser, "--auth-password", authPassword ?? ""]);
        if (bodyFile is not null) args.AddRange(["--body", bodyFile]);
        if (quitAfterRcpt) args.AddRange(["--quit-after", "RCPT"]);
        return await MailPanel.Sys.Run.Exec("swaks", args, TimeSpan.FromSeconds(60));
    }

    /// <summary>curl against IMAP: returns (exit code, output). 67 = login denied.</summary>
    internal async Task<RunResult> Imap(string user, string password, string command = "SEARCH ALL", string? source = null, string path = "INBOX",
        bool tls = false)
    {
        List<string> args = ["-s", "--max-time", "20", "-u", $"{user}:{password}", $"imap://127.0.0.1:{ImapPort}/{path}", "-X", command];
        if (tls) args.InsertRange(0, ["--ssl-reqd", "-k"]); // STARTTLS, required; the test certificates are self-signed
        if (source is not null) args.InsertRange(0, ["--interface", source]);
        return await MailPanel.Sys.Run.Exec("curl", args, TimeSpan.FromSeconds(30));
    }

    /// <summary>curl against POP3 (LIST): 67 = login denied.</summary>
    internal async Task<RunResult> Pop3(string user, string password, string? source = null)
    {
        List<string> args = ["-s", "--max-time", "20", "-u", $"{user}:{password}", $"pop3://127.0.0.1:{Pop3Port}/"];
        if (source is not null) args.InsertRange(0, ["--interface", source]);
        return await MailPanel.Sys.Run.Exec("curl", args, TimeSpan.FromSeconds(30));
    }

    /// <summary>The Postfix and Dovecot log lines that mention <paramref name="text"/> (for failure messages).</summary>
    public string LogLines(string text)
    {
        var dir = Path.Combine(Server.Config.SysRoot, "var/log");
        if (!Directory.Exists(dir)) return "(no logs)";
        return string.Join("\n", Directory.GetFiles(dir).SelectMany(f => File.ReadLines(f).Where(l => (l.Contains(text, StringComparison.OrdinalIgnoreCase) || l.Contains("reload", StringComparison.Ordinal) || l.Contains("trivial-rewrite", StringComparison.Ordinal)) && !l.Contains("imap", StringComparison.Ordinal) && !l.Contains("auth:", StringComparison.Ordinal)).TakeLast(20)));
    }

    /// <summary>Message files in the mailbox's INBOX (new/ and cur/).</summary>
    public int InboxCount(string domain, string user)
    {
        var maildir = Path.Combine(VmailDir, domain, user, "Maildir");
        return new[] { "new", "cur" }.Select(d => Path.Combine(maildir, d)).Where(Directory.Exists).Sum(d => Directory.GetFiles(d).Length);
    }

    /// <summary>Waits until IMAP SEARCH finds a message with this subject in the mailbox.</summary>
    public async Task WaitForSubject(string user, string password, string subject, bool tls = false)
    {
        await WaitUntil(async () =>
        {
            var r = await Imap(user, password, $"SEARCH HEADER SUBJECT \"{subject}\"", tls: tls);
            return r.ExitCode == 0 && System.Text.RegularExpressions.Regex.IsMatch(r.Stdout, @"\* SEARCH \d");
        }, $"'{subject}' in {user}'s INBOX", logs: user.Split('@')[1]);
    }

    /// <summary>A body file of roughly <paramref name="bytes"/> bytes of text lines.</summary>
    public string BodyFile(int bytes)
    {
        var path = Path.Combine(Server.Dir, $"body-{bytes}-{Guid.NewGuid():N}.txt");
        var line = new string('x', 75) + "\n";
        var sb = new StringBuilder();
        while (sb.Length < bytes) sb.Append(line);
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
