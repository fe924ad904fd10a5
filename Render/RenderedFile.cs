using System.Globalization;
using System.Text;
using MailPanel.Core;

namespace MailPanel.Render;

/// <summary>How a rendered file is put into effect (Mail/MailStack.cs has one path per role, whatever the daemon).</summary>
internal enum FileRole
{
    /// <summary>
    /// A daemon config (main.cf, dovecot.conf, and a table the daemon reads only when a process starts,
    /// such as a Postfix cidr: table): replaced whole, then the unit's checks run, then the unit reloads.
    /// </summary>
    Config,
    /// <summary>
    /// An lmdb map source: a few changed keys go into the live table in place (postmap -i / -d),
    /// more are built under a temp name and renamed; the daemon notices a changed table on its own
    /// unless the file says <see cref="RenderedFile.ReloadsDaemon"/>.
    /// </summary>
    Table,
    /// <summary>
    /// A file the daemon reads on every lookup (Dovecot's users dict compares the inode each time):
    /// an atomic replacement is in effect at once, no reload. It goes in before the tables when it
    /// gains or changes entries, after them when it only loses some (see <see cref="RenderedFile.MirrorOf"/>).
    /// </summary>
    Lookup,
}

/// <summary>
/// One rendered file: its absolute path (under SYSROOT), how it is applied, its mode and group
/// (owner root), and a writer that streams its exact bytes (the users dict of 100,000 mailboxes is
/// ~15 MB; it never exists as one array).
/// </summary>
internal sealed record RenderedFile(string Path, FileRole Role, Action<Stream> Write)
{
    public const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode Mode0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    public UnixFileMode Mode { get; init; } = Mode0644;

    /// <summary>The group that owns it (owner root); null = root. A group missing on the host leaves ownership alone.</summary>
    public string? Group { get; init; }

    /// <summary>A <see cref="FileRole.Table"/> whose change the daemon only sees after a reload.</summary>
    public bool ReloadsDaemon { get; init; }

    /// <summary>
    /// For a <see cref="FileRole.Lookup"/>: the file name of the table that has exactly its keys, whose
    /// diff tells whether entries are added or only removed without reading this file twice.
    /// </summary>
    public string? MirrorOf { get; init; }

    /// <summary>The order of the entries' keys (maps, users dict): ordinal unless said otherwise. The apply's diffs walk it.</summary>
    public IComparer<string> KeyOrder { get; init; } = StringComparer.Ordinal;

    /// <summary>Its writer reads the snapshot's mailboxes from the store: such files render one at a time (one read transaction).</summary>
    public bool ReadsStore { get; init; }

    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>The whole content in memory: for the small files and for tests.</summary>
    public byte[] Bytes()
    {
        using var buffer = new MemoryStream();
        Write(buffer);
        return buffer.ToArray();
    }
}

/// <summary>The host facts a render depends on, taken from config.env and /etc/passwd by Sys/.</summary>
internal sealed record RenderSettings
{
    /// <summary>Where everything lives (Sys/MailPaths: the one definition, derived from SYSROOT).</summary>
    public required MailPaths Paths { get; init; }
    public required string VmailDir { get; init; }
    public required uint VmailUid { get; init; }
    public required uint VmailGid { get; init; }
    public required string Hostname { get; init; }
    public required string SmtpListen { get; init; }
    public required string SubmissionListen { get; init; }
    public required string ImapListen { get; init; }
    public required string Pop3Listen { get; init; }
    public string ImapsListen { get; init; } = "0.0.0.0:993";
    public string Pop3sListen { get; init; } = "0.0.0.0:995";
    /// <summary>Extra transport_maps lines (tests: a destination that is never reachable).</summary>
    public IReadOnlyList<string> ExtraTransport { get; init; } = [];
    /// <summary>Appended to main.cf verbatim. Test hook: a broken line proves the rollback.</summary>
    public string ExtraMainCf { get; init; } = "";
    /// <summary>Appended to mailpanel.sieve verbatim. Test hook: a script that does not compile proves the Sieve check and rollback.</summary>
    public string ExtraSieve { get; init; } = "";
    /// <summary>OpenDKIM is installed: Postfix passes mail through its milter. False renders no milter wiring.</summary>
    public bool OpenDkim { get; init; }
    /// <summary>The user OpenDKIM drops to (UserID) when it exists on the host; null = it keeps running as started.</summary>
    public string? OpenDkimUser { get; init; }
    /// <summary>OpenDMARC is installed: inbound SMTP passes through its milter after OpenDKIM's.</summary>
    public bool OpenDmarc { get; init; }
    /// <summary>The user OpenDMARC drops to when it exists on the host.</summary>
    public string? OpenDmarcUser { get; init; }
    /// <summary>The daemon serves its content filter milter (spam and virus checks): inbound SMTP passes through it last. False in render-only tests.</summary>
    public bool ContentFilter { get; init; }
    /// <summary>The public suffix list when the host has it (organizational domains for DMARC alignment); null = none.</summary>
    public string? PublicSuffixList { get; init; }

    public string SysRoot => Paths.SysRoot;
    public string HostPath(string absolute) => Paths.HostPath(absolute);
    public string PostfixDir => Paths.PostfixConfigDir;
    public string DovecotDir => Paths.DovecotConfigDir;
    public string DovecotConf => Paths.DovecotConfig;
    public string QueueDir => Paths.PostfixQueueDir;
    public string PostfixDataDir => Paths.PostfixDataDir;
    public string LogDir => Paths.LogDir;
    public string DovecotBaseDir => Paths.DovecotBaseDir;
    public string SieveDir => Paths.SieveDir;
    public string VacationDir => Paths.VacationDir;
    public string DovecotStateDir => Paths.DovecotStateDir;
    public string LmtpSocket => Paths.LmtpSocket;
    public string OpenDkimDir => Paths.OpenDkimDir;
    public string OpenDkimRunDir => Paths.OpenDkimRunDir;
    public string OpenDkimSocket => Path.Combine(Paths.OpenDkimRunDir, "opendkim.sock");
    public string OpenDkimPidFile => Paths.OpenDkimPidFile;
    public string OpenDmarcDir => Paths.OpenDmarcDir;
    public string OpenDmarcRunDir => Paths.OpenDmarcRunDir;
    public string OpenDmarcSocket => Path.Combine(Paths.OpenDmarcRunDir, "opendmarc.sock");
    public string OpenDmarcPidFile => Paths.OpenDmarcPidFile;
    public string ContentFilterSocket => Paths.ContentFilterSocket;

    /// <summary>
    /// Names the Postfix syslog tag and the Dovecot instance. The real system is "mailpanel"; a
    /// sandboxed SYSROOT gets a stable suffix so several instances can run side by side.
    /// </summary>
    public string Instance => SysRoot.TrimEnd('/').Length == 0 ? "mailpanel" : "mailpanel-" + Fnv(SysRoot).ToString("x8", CultureInfo.InvariantCulture);

    static uint Fnv(string text)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(text)) hash = (hash ^ b) * 16777619u;
        return hash;
    }
}
