using MailPanel.Render;

namespace MailPanel.Mail;

/// <summary>A command a unit runs: program and arguments; a quiet one logs nothing when it succeeds.</summary>
internal sealed record UnitCommand(string Program, string[] Args, bool Quiet = false)
{
    /// <summary>Runs it; a failure throws (the apply names the step and rolls back).</summary>
    public async Task Run(CancellationToken cancel)
    {
        var result = await Sys.Run.Exec(Program, Args, cancel: cancel);
        if (!result.Ok) throw new InvalidOperationException(result.Describe($"{Program} {string.Join(' ', Args)}"));
    }
}

/// <summary>How a unit is told to re-read its configuration.</summary>
internal delegate Task UnitReload(RenderSettings s, CancellationToken cancel);

/// <summary>
/// A directory a unit needs, made only when missing, with an explicit mode (the host's umask may be
/// 0, and `postfix check` refuses group/other-writable parents). Owner: <paramref name="User"/>'s uid
/// (root when null or missing on the host) and group root, or the user's own group when
/// <paramref name="UserGroup"/>, or <paramref name="Group"/> when named (and present on the host).
/// <paramref name="Sweep"/>: the unit's files live here, so hidden temp files and previous versions
/// an interrupted apply left behind are removed from it.
/// <paramref name="Owned"/>: every file here is one the unit renders, so a file the render no longer
/// yields (and its companions: the same name with another extension, e.g. a compiled .svbin) is
/// removed by the apply, with the same undo as a replaced file.
/// </summary>
internal sealed record UnitDir(string Path, UnixFileMode Mode, string? User = null, bool UserGroup = false, bool Sweep = false, string? Group = null,
    bool Owned = false);

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
    UnitReload Reload)
{
    /// <summary>The service name for the running probe (Sys/Services).</summary>
    public string Service => Name;

    /// <summary>The log line when <see cref="Programs"/> are missing.</summary>
    public required string NotInstalled { get; init; }

    public required Func<RenderSettings, UnitDir[]> Directories { get; init; }

    /// <summary>False: the daemon reads the unit's files each time it uses them (Sieve scripts), so there is nothing to reload.</summary>
    public bool Reloads { get; init; } = true;

    /// <summary>Files earlier builds rendered and this one does not: removed at the next apply (stale hashes must not linger).</summary>
    public Func<RenderSettings, string[]> Obsolete { get; init; } = _ => [];
}

/// <summary>The managed daemons, in apply order (checks and reloads run in this order).</summary>
internal static class Units
{
    const UnixFileMode Mode0755 = RenderedFile.Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    const UnixFileMode Mode0750 = Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    public static readonly MailUnit Postfix = new("postfix", ["postfix", "postmap"], MailRender.Postfix,
        s =>
        [
            // postconf names the bad line on stderr; `postfix check` then covers files and permissions.
            new("postconf", ["-c", s.PostfixDir, "-n"], Quiet: true),
            new("postfix", ["-c", s.PostfixDir, "check"]),
        ],
        (s, cancel) => new UnitCommand("postfix", ["-c", s.PostfixDir, "reload"]).Run(cancel))
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
        (s, cancel) => new UnitCommand("doveadm", ["-c", s.DovecotConf, "reload"]).Run(cancel))
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

    /// <summary>
    /// OpenDKIM: reloaded (SIGUSR1: it re-reads its config and tables) only when one of its files
    /// changed. A key whose private key file is missing is marked so the render never signs with it.
    /// </summary>
    public static readonly MailUnit OpenDkim = new("opendkim", ["opendkim"],
        MailRender.OpenDkim,
        s => [new("opendkim", ["-n", "-x", Path.Combine(s.OpenDkimDir, "opendkim.conf")], Quiet: true)],
        (s, _) => Signal(s.OpenDkimPidFile, SigUsr1))
    {
        NotInstalled = "opendkim not installed: its check and reload skipped (Postfix gets no milter)",
        Directories = s =>
        [
            new(s.OpenDkimDir, Mode0755, Sweep: true),
            // The milter socket: reachable by OpenDKIM and the postfix group only.
            new(s.OpenDkimRunDir, Mode0750, "opendkim", Group: "postfix"),
        ],
    };

    /// <summary>OpenDMARC: like OpenDKIM, checked with -n and reloaded with SIGUSR1 only when its files changed.</summary>
    public static readonly MailUnit OpenDmarc = new("opendmarc", ["opendmarc"], MailRender.OpenDmarc,
        s => [new("opendmarc", ["-n", "-c", Path.Combine(s.OpenDmarcDir, "opendmarc.conf")], Quiet: true)],
        (s, _) => Signal(s.OpenDmarcPidFile, SigUsr1))
    {
        NotInstalled = "opendmarc not installed: its check and reload skipped (Postfix gets no DMARC milter)",
        Directories = s =>
        [
            new(s.OpenDmarcDir, Mode0755, Sweep: true),
            new(s.OpenDmarcRunDir, Mode0750, "opendmarc", Group: "postfix"),
        ],
    };

    /// <summary>
    /// Sieve (Dovecot Pigeonhole): MailPanel's scripts, compiled by sievec against the rendered
    /// dovecot.conf (it names the extensions they may use). A script that does not compile fails the
    /// reconcile and the previous one stays. LMTP reads the scripts at each delivery: no reload.
    /// </summary>
    public static readonly MailUnit Sieve = new("sieve", ["sievec"], MailRender.Sieve,
        s =>
        [
            new("sievec", ["-c", s.DovecotConf, Path.Combine(s.SieveDir, "mailpanel.sieve")], Quiet: true),
            new("sievec", ["-c", s.DovecotConf, s.VacationDir], Quiet: true),
        ],
        (_, _) => Task.CompletedTask)
    {
        NotInstalled = "sievec not installed (dovecot-sieve): Sieve scripts written, not compiled",
        Directories = s =>
        [
            new(s.SieveDir, Mode0755, Sweep: true),
            new(s.VacationDir, Mode0755, Sweep: true, Owned: true),
        ],
        Reloads = false,
    };

    const int SigUsr1 = 10;

    /// <summary>Signals the process its pid file names, in-process (no kill(1): a minimal host has none).</summary>
    static Task Signal(string pidFile, int signal)
    {
        var text = Sys.Posix.ReadSmallFile(pidFile).Trim();
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || pid <= 1)
            throw new InvalidOperationException($"{pidFile} holds no pid ('{text}')");
        if (!Sys.Posix.Kill(pid, signal)) throw new InvalidOperationException($"signal {signal} to pid {pid} ({pidFile}) failed");
        return Task.CompletedTask;
    }

    /// <summary>
    /// The facts about files the render needs and cannot read itself (it does no I/O): whether each
    /// DKIM key file is there, and a digest of each certificate's chain and key (empty when one is
    /// missing or unreadable, so a restore without the files never points a daemon at nothing).
    /// </summary>
    public static MailStackSnapshot WithFileFacts(MailStackSnapshot snap, Core.MailPaths paths) => snap with
    {
        DkimKeys = [.. snap.DkimKeys.Select(k => k with { PrivateKeyPath = paths.Stored(k.PrivateKeyPath) } is var key
            ? key with { Present = File.Exists(key.PrivateKeyPath) } : key)],
        Certs = [.. snap.Certs.Select(c => c with { CertPath = paths.Stored(c.CertPath), KeyPath = paths.Stored(c.KeyPath) } is var cert
            ? cert with { Stamp = Stamp(cert.CertPath, cert.KeyPath) } : cert)],
    };

    static string Stamp(params string[] files)
    {
        try
        {
            using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            foreach (var file in files) hash.AppendData(File.ReadAllBytes(file));
            return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>The milters first, so a new key is in OpenDKIM's tables before Postfix starts passing mail to it.</summary>
    public static readonly MailUnit[] All = [OpenDkim, OpenDmarc, Postfix, Sieve, Dovecot];
}
