namespace MailPanel;

/// <summary>
/// THE place that says where the mail stack lives on the managed host: every path is already under
/// SYSROOT. Renderers, appliers, the service probe, the queue commands and the log readers all take
/// their paths from here, so a sandboxed stack (tests, SYSROOT=/tmp/x) and a real one differ only
/// in SYSROOT.
/// </summary>
internal sealed record MailPaths
{
    public MailPaths(AppConfig config)
    {
        SysRoot = config.SysRoot;
        PostfixConfigDir = config.HostPath("/etc/postfix");
        PostfixQueueDir = config.HostPath("/var/spool/postfix");
        PostfixPidFile = Path.Combine(PostfixQueueDir, "pid", "master.pid");
        PostfixLog = config.HostPath("/var/log/postfix.log");
        DovecotConfigDir = config.HostPath("/etc/dovecot");
        DovecotConfig = Path.Combine(DovecotConfigDir, "dovecot.conf");
        DovecotBaseDir = config.HostPath("/run/dovecot");
        DovecotPidFile = Path.Combine(DovecotBaseDir, "master.pid");
        DovecotLog = config.HostPath("/var/log/dovecot.log");
        LogDir = config.HostPath("/var/log");
        SystemdRunDir = config.HostPath("/run/systemd/system");
    }

    public string SysRoot { get; }

    /// <summary>Postfix config_directory: every Postfix command gets `-c` with this absolute path.</summary>
    public string PostfixConfigDir { get; }

    /// <summary>Postfix queue_directory.</summary>
    public string PostfixQueueDir { get; }

    /// <summary>queue_directory/pid/master.pid: the pid right-aligned in 10 columns.</summary>
    public string PostfixPidFile { get; }

    /// <summary>Postfix maillog_file (syslog-style lines written by postlogd instead of syslog).</summary>
    public string PostfixLog { get; }

    public string DovecotConfigDir { get; }

    /// <summary>dovecot.conf: every dovecot/doveadm command gets `-c` with this path.</summary>
    public string DovecotConfig { get; }

    /// <summary>Dovecot base_dir (sockets and master.pid).</summary>
    public string DovecotBaseDir { get; }

    public string DovecotPidFile { get; }

    /// <summary>Dovecot log_path (lines start "%Y-%m-%d %H:%M:%S ", host local time).</summary>
    public string DovecotLog { get; }

    /// <summary>Where syslog-style mail logs (mail.log, maillog) live when Postfix logs through syslog.</summary>
    public string LogDir { get; }

    /// <summary>Exists when the host was booted with systemd (sd_booted(3) checks the same directory).</summary>
    public string SystemdRunDir { get; }

    public bool IsSystemd => Directory.Exists(SystemdRunDir);
}
