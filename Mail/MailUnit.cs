using MailPanel.Render;

namespace MailPanel.Mail;

/// <summary>A command a unit runs: program and arguments; a quiet one logs nothing when it succeeds.</summary>
internal sealed record UnitCommand(string Program, string[] Args, bool Quiet = false);

/// <summary>
/// A directory a unit needs, made only when missing, with an explicit mode (the host's umask may be
/// 0, and `postfix check` refuses group/other-writable parents). Owner: <paramref name="User"/>'s uid
/// (root when null or missing on the host) and group root, or the user's own group when
/// <paramref name="UserGroup"/>. <paramref name="Sweep"/>: the unit's files live here, so hidden
/// temp files and previous versions an interrupted apply left behind are removed from it.
/// </summary>
internal sealed record UnitDir(string Path, UnixFileMode Mode, string? User = null, bool UserGroup = false, bool Sweep = false);

/// <summary>
/// One managed daemon, declared once: its files (rendered with path, role, mode and group by
/// <see cref="Render"/>), how its configs are checked once installed and before anything reloads,
/// how it is reloaded, and how to tell that it is installed (<see cref="Programs"/>: without them
/// the files are still written, and checks, table builds and the reload are skipped). The one apply
/// flow (<see cref="MailStack"/>) handles every unit alike, in <see cref="Units.All"/> order.
/// </summary>
internal sealed record MailUnit(
    string Name,
    string[] Programs,
    Func<MailStackSnapshot, RenderSettings, List<RenderedFile>> Render,
    Func<RenderSettings, UnitCommand[]> Checks,
    Func<RenderSettings, UnitCommand> Reload)
{
    /// <summary>The service name for the running probe (Sys/Services).</summary>
    public string Service => Name;

    /// <summary>The log line when <see cref="Programs"/> are missing.</summary>
    public required string NotInstalled { get; init; }

    public required Func<RenderSettings, UnitDir[]> Directories { get; init; }

    /// <summary>Files earlier builds rendered and this one does not: removed at the next apply (stale hashes must not linger).</summary>
    public Func<RenderSettings, string[]> Obsolete { get; init; } = _ => [];
}

/// <summary>The managed daemons, in apply order (checks and reloads run in this order).</summary>
internal static class Units
{
    const UnixFileMode Mode0755 = RenderedFile.Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static readonly MailUnit Postfix = new("postfix", ["postfix", "postmap"], MailRender.Postfix,
        s =>
        [
            // postconf names the bad line on stderr; `postfix check` then covers files and permissions.
            new("postconf", ["-c", s.PostfixDir, "-n"], Quiet: true),
            new("postfix", ["-c", s.PostfixDir, "check"]),
        ],
        s => new("postfix", ["-c", s.PostfixDir, "reload"]))
    {
        NotInstalled = "postfix not installed: postmap, postfix check and reload skipped",
        Directories = s =>
        [
            new(s.PostfixDir, Mode0755, Sweep: true),
            new(s.LogDir, Mode0755),
            new(s.QueueDir, Mode0755),
            new(Path.Combine(s.QueueDir, "private"), Mode0700, "postfix"),
            new(s.PostfixDataDir, Mode0700, "postfix", UserGroup: true),
        ],
    };

    public static readonly MailUnit Dovecot = new("dovecot", ["doveconf"], MailRender.Dovecot,
        s => [new("doveconf", ["-c", s.DovecotConf, "-n"], Quiet: true)],
        s => new("doveadm", ["-c", s.DovecotConf, "reload"]))
    {
        NotInstalled = "dovecot not installed: doveconf and reload skipped",
        Directories = s =>
        [
            new(s.DovecotDir, Mode0755, Sweep: true),
            new(s.DovecotBaseDir, Mode0755),
            new(s.DovecotStateDir, Mode0755),
        ],
        // The passwd-file and deny lists of the first build, replaced by the users dict.
        Obsolete = s => [.. new[] { "users", "deny.imap", "deny.pop3", "deny.smtp" }.Select(name => Path.Combine(s.DovecotDir, name))],
    };

    public static readonly MailUnit[] All = [Postfix, Dovecot];
}
