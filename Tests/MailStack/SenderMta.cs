namespace MailPanel.Tests.MailStack;

/// <summary>
/// A second, minimal Postfix instance that plays a sending MTA on the internet: mail injected with
/// its sendmail goes to the sandbox's port 25 from <c>source</c> (a loopback address outside
/// relay_networks), and what the sandbox answers 4xx waits in this instance's own queue until it
/// is retried (<see cref="Flush"/>). No listener of its own: master.cf has no inet service.
/// </summary>
internal sealed class SenderMta : IAsyncDisposable
{
    readonly string dir;

    SenderMta(string dir) => this.dir = dir;

    public string LogFile => Path.Combine(dir, "log/postfix.log");

    public static async Task<SenderMta> Start(string parent, int smtpPort, string source)
    {
        var dir = Path.Combine(parent, "sender-mta");
        foreach (var sub in new[] { "etc", "spool", "data", "log" }) Directory.CreateDirectory(Path.Combine(dir, sub));
        var chown = await MailPanel.Sys.Run.Exec("chown", ["postfix", Path.Combine(dir, "data")]); // master's lock file lives there
        if (!chown.Ok) throw new InvalidOperationException(chown.Describe("chown"));
        var mta = new SenderMta(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "etc/main.cf"), $"""
            compatibility_level = 3.6
            queue_directory = {dir}/spool
            data_directory = {dir}/data
            mail_owner = postfix
            setgid_group = postdrop
            maillog_file = {dir}/log/postfix.log
            maillog_file_prefixes = {dir}/log
            syslog_name = postfix-sender-mta
            multi_instance_name = postfix-sender-mta
            myhostname = mta.sender.example
            mydomain = sender.example
            mydestination =
            local_transport = error:5.1.1 no local delivery
            alias_maps =
            alias_database =
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            relayhost = [127.0.0.1]:{smtpPort}
            smtp_bind_address = {source}
            smtp_tls_security_level = none
            smtp_dns_support_level = disabled
            # A retry only when the test flushes the queue.
            queue_run_delay = 3600s
            minimal_backoff_time = 3600s
            maximal_backoff_time = 3600s
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "etc/master.cf"), """
            pickup    unix  n       -       n       60      1       pickup
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            flush     unix  n       -       n       1000?   0       flush
            smtp      unix  -       -       n       -       -       smtp
            relay     unix  -       -       n       -       -       smtp
            showq     unix  n       -       n       -       -       showq
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd
            """);
        var start = await Postfix("start");
        if (!start.Ok) throw new InvalidOperationException(start.Describe("sender MTA start") + "\n" + mta.Log());
        return mta;

        Task<RunResult> Postfix(string command) =>
            MailPanel.Sys.Run.Exec("sh", ["-c", "exec postfix -c \"$1\" \"$2\" </dev/null >/dev/null 2>&1", "sh", Path.Combine(dir, "etc"), command],
                TimeSpan.FromSeconds(30));
    }

    public string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)";

    /// <summary>Hands a message to the sender's queue with its sendmail (pickup), as a local program would.</summary>
    public async Task Send(string from, string to, string subject)
    {
        var message = Path.Combine(dir, $"message-{Guid.NewGuid():N}.eml");
        await File.WriteAllTextAsync(message, $"From: {from}\nTo: {to}\nSubject: {subject}\n\nqueued while the policy service was down\n");
        var r = await MailPanel.Sys.Run.Exec("sh", ["-c", "exec sendmail -C \"$1\" -f \"$2\" -- \"$3\" < \"$4\"", "sh", Path.Combine(dir, "etc"), from, to, message],
            TimeSpan.FromSeconds(30));
        if (!r.Ok) throw new InvalidOperationException(r.Describe("sendmail"));
    }

    /// <summary>The queue listing (postqueue -p).</summary>
    public async Task<string> Queue() => (await MailPanel.Sys.Run.Exec("postqueue", ["-c", Path.Combine(dir, "etc"), "-p"])).Stdout;

    /// <summary>postqueue -f: retry every deferred message now.</summary>
    public async Task Flush()
    {
        var r = await MailPanel.Sys.Run.Exec("postqueue", ["-c", Path.Combine(dir, "etc"), "-f"]);
        if (!r.Ok) throw new InvalidOperationException(r.Describe("postqueue -f"));
    }

    public async ValueTask DisposeAsync()
    {
        await MailPanel.Sys.Run.Exec("sh", ["-c", "exec postfix -c \"$1\" stop </dev/null >/dev/null 2>&1", "sh", Path.Combine(dir, "etc")], TimeSpan.FromSeconds(30));
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
