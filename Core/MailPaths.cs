
namespace MailPanel.Core;

/// <summary>
/// THE place that says where the mail stack lives on the managed host: every path is already under
/// SYSROOT. Renderers, appliers, the service probe, the queue commands and the log readers all take
/// their paths from here, so a sandboxed stack (tests, SYSROOT=/tmp/x) and a real one differ only
/// in SYSROOT.
/// </summary>
internal sealed record MailPaths
{
    /// <summary>Pure: derives every path from SYSROOT alone (the renderer and its tests use this too).</summary>
    public MailPaths(string sysRoot)
    {
        SysRoot = sysRoot;
        PostfixConfigDir = HostPath("/etc/postfix");
        PostfixQueueDir = HostPath("/var/spool/postfix");
        PostfixDataDir = HostPath("/var/lib/postfix");
        PostfixPidFile = Path.Combine(PostfixQueueDir, "pid", "master.pid");
        PostfixLog = HostPath("/var/log/postfix.log");
        LmtpSocket = Path.Combine(PostfixQueueDir, "private", "dovecot-lmtp");
        ContentFilterSocket = Path.Combine(PostfixQueueDir, "private", "mailpanel-milter");
        ClamdSocket = HostPath("/run/clamav/clamd.ctl");
        DovecotConfigDir = HostPath("/etc/dovecot");
        DovecotConfig = Path.Combine(DovecotConfigDir, "dovecot.conf");
        DovecotBaseDir = HostPath("/run/dovecot");
        DovecotStateDir = HostPath("/var/lib/dovecot");
        DovecotPidFile = Path.Combine(DovecotBaseDir, "master.pid");
        DovecotLog = HostPath("/var/log/dovecot.log");
        SieveDir = Path.Combine(DovecotConfigDir, "sieve");
        VacationDir = Path.Combine(SieveDir, "vacation");
        LogDir = HostPath("/var/log");
        OpenDkimDir = HostPath("/etc/opendkim");
        OpenDkimKeysDir = Path.Combine(OpenDkimDir, "keys");
        OpenDkimRunDir = HostPath("/run/opendkim");
        OpenDkimPidFile = Path.Combine(OpenDkimRunDir, "opendkim.pid");
        OpenDmarcDir = HostPath("/etc/opendmarc");
        OpenDmarcRunDir = HostPath("/run/opendmarc");
        OpenDmarcPidFile = Path.Combine(OpenDmarcRunDir, "opendmarc.pid");
        SystemdRunDir = HostPath("/run/systemd/system");
        TlsDir = HostPath("/etc/backendside-mailpanel/tls");
        LetsEncryptDir = HostPath("/etc/letsencrypt");
    }

    /// <summary>An absolute host path moved under SYSROOT.</summary>
    public string HostPath(string absolute) => Path.Combine(SysRoot, absolute.TrimStart('/'));

    /// <summary>A stored path (tls_certs, dkim_keys) as a file on this host: one already under SYSROOT is kept as is.</summary>
    public string Stored(string path) =>
        SysRoot.TrimEnd('/').Length > 0 && path.StartsWith(SysRoot.TrimEnd('/') + "/", StringComparison.Ordinal) ? path : HostPath(path);

    public string SysRoot { get; }

    /// <summary>OpenDKIM's config directory; its keys live in keys/&lt;domain&gt;/&lt;selector&gt;.private.</summary>
    public string OpenDkimDir { get; }

    public string OpenDkimKeysDir { get; }

    /// <summary>OpenDKIM's socket and pid file (Debian's own /run/opendkim).</summary>
    public string OpenDkimRunDir { get; }

    public string OpenDkimPidFile { get; }

    /// <summary>The panel's certificates: uploaded/&lt;hostname&gt;/ (operator bundles) and self/&lt;hostname&gt;/ (the installer's).</summary>
    public string TlsDir { get; }

    /// <summary>Where a validated hostname's uploaded (or self-signed: <paramref name="kind"/> = "self") chain and key live.</summary>
    public (string Chain, string Key) TlsFiles(string kind, string hostname) =>
        (Path.Combine(TlsDir, kind, hostname, "fullchain.pem"), Path.Combine(TlsDir, kind, hostname, "privkey.pem"));

    /// <summary>certbot's --config-dir: live/&lt;hostname&gt;/fullchain.pem and privkey.pem are where it leaves a certificate.</summary>
    public string LetsEncryptDir { get; }

    /// <summary>OpenDMARC's rendered config (Debian's own /etc/opendmarc.conf is left alone), socket and pid file.</summary>
    public string OpenDmarcDir { get; }

    public string OpenDmarcRunDir { get; }

    public string OpenDmarcPidFile { get; }

    /// <summary>Where the private key of a validated domain and selector lives.</summary>
    public string DkimKeyPath(string domain, string selector) => Path.Combine(OpenDkimKeysDir, domain, selector + ".private");

    /// <summary>Postfix config_directory: every Postfix command gets `-c` with this absolute path.</summary>
    public string PostfixConfigDir { get; }

    /// <summary>Postfix queue_directory.</summary>
    public string PostfixQueueDir { get; }

    /// <summary>queue_directory/pid/master.pid: the pid right-aligned in 10 columns.</summary>
    public string PostfixPidFile { get; }

    /// <summary>Postfix data_directory.</summary>
    public string PostfixDataDir { get; }

    /// <summary>Dovecot's LMTP socket, inside Postfix's private/ (chroot is off).</summary>
    public string LmtpSocket { get; }

    /// <summary>The daemon's own milter (spam and virus checks, Api/MilterServer.cs), inside Postfix's private/ like the policy socket.</summary>
    public string ContentFilterSocket { get; }

    /// <summary>clamd's LocalSocket as Debian's clamav-daemon sets it (/var/run/clamav/clamd.ctl; /var/run is /run).</summary>
    public string ClamdSocket { get; }

    /// <summary>Postfix maillog_file (syslog-style lines written by postlogd instead of syslog).</summary>
    public string PostfixLog { get; }

    public string DovecotConfigDir { get; }

    /// <summary>dovecot.conf: every dovecot/doveadm command gets `-c` with this path.</summary>
    public string DovecotConfig { get; }

    /// <summary>MailPanel's Sieve scripts (Pigeonhole sieve_before): mailpanel.sieve, the auto-junk rule for every mailbox.</summary>
    public string SieveDir { get; }

    /// <summary>One vacation script per mailbox whose effective vacation_enabled is true: &lt;address&gt;.sieve (nothing else lives here).</summary>
    public string VacationDir { get; }

    /// <summary>Dovecot base_dir (sockets and master.pid).</summary>
    public string DovecotBaseDir { get; }

    /// <summary>Dovecot state_dir.</summary>
    public string DovecotStateDir { get; }

    public string DovecotPidFile { get; }

    /// <summary>Dovecot log_path (lines start "%Y-%m-%d %H:%M:%S ", host local time).</summary>
    public string DovecotLog { get; }

    /// <summary>Where syslog-style mail logs (mail.log, maillog) live when Postfix logs through syslog.</summary>
    public string LogDir { get; }

    /// <summary>Exists when the host was booted with systemd (sd_booted(3) checks the same directory).</summary>
    public string SystemdRunDir { get; }

    public bool IsSystemd => Directory.Exists(SystemdRunDir);
}
