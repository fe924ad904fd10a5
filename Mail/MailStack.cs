using System.Diagnostics;
using MailPanel.Core;
using MailPanel.Render;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Mail;

/// <summary>
/// Applies the store's state to Postfix and Dovecot: snapshot -> render -> compare with disk ->
/// write only what changed (atomically, right owner and mode) -> validate -> reload only the
/// daemon whose config changed. Any failure puts the previous files back, leaves the running
/// daemons on their old config and names the failing step. Called by the Reconciler only, so
/// two applies never overlap.
/// </summary>
internal sealed class MailStack(AppConfig config, Db db, Services services, ILogger<MailStack> logger)
{
    readonly Db store = db;
    readonly Services probe = services;
    readonly ILogger log = logger;

    const UnixFileMode Mode0644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    const UnixFileMode Mode0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
    const UnixFileMode Mode0755 = Mode0644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    long postfixReloads, dovecotReloads;

    public AppConfig Config => config;

    public Db Db => store;

    /// <summary>`postfix reload`s since start: map-only changes must leave it alone.</summary>
    public long PostfixReloads => Interlocked.Read(ref postfixReloads);

    public long DovecotReloads => Interlocked.Read(ref dovecotReloads);

    /// <summary>Test hook: appended to main.cf (a broken line proves validation and rollback). Null in production.</summary>
    internal string? TestMainCfExtra { get; set; }

    /// <summary>
    /// Test hook: MAILPANEL_TEST_CRASH_AT names a point of the apply (rendered, configs, users,
    /// map-dirty, map-table, maps) where the daemon sends itself SIGKILL, so the crash-safety test can
    /// stop an apply at every step boundary instead of hoping a timer lands there. Unset in production.
    /// </summary>
    internal string? CrashAt { get; set; } = Environment.GetEnvironmentVariable("MAILPANEL_TEST_CRASH_AT");

    /// <summary>Test hook: extra transport_maps lines (e.g. a destination that is never reachable).</summary>
    internal IReadOnlyList<string> TestTransport { get; set; } = [];

    public RenderSettings Settings()
    {
        var vmail = Posix.LookupUser("vmail");
        return new RenderSettings
        {
            Paths = new MailPaths(config.SysRoot),
            VmailDir = config.VmailDir,
            VmailUid = vmail?.Uid ?? 0,
            VmailGid = vmail?.Gid ?? 0,
            Hostname = config.MailHostname,
            SmtpListen = config.SmtpListen,
            SubmissionListen = config.SubmissionListen,
            ImapListen = config.ImapListen,
            Pop3Listen = config.Pop3Listen,
            ExtraTransport = TestTransport,
            ExtraMainCf = TestMainCfExtra ?? "",
        };
    }

    public Task<ReconcileResult> Apply(CancellationToken cancel) => new Attempt(this).Go(cancel);

    /// <summary>A map change above this many entries is rebuilt whole rather than applied key by key.</summary>
    internal const int IncrementalMapLimit = 5000;

    /// <summary>One apply: its log, the undo list, and the step it is in.</summary>
    sealed class Attempt(MailStack stack)
    {
        readonly List<string> log = [];
        readonly List<(string What, Func<CancellationToken, Task> Undo)> undo = [];
        readonly List<string> leftovers = []; // temp files and previous versions, removed when the apply ends
        readonly Stopwatch clock = Stopwatch.StartNew();
        string step = "snapshot";
        RenderSettings s = null!;
        bool postfixInstalled, dovecotInstalled;

        void Log(string line)
        {
            lock (log) log.Add(line); // maps are applied in parallel
            stack.log.LogDebug("reconcile: {Line}", line);
        }

        sealed class StepFailed(string message) : Exception(message);

        /// <summary>A rendered file that differs from disk: its temp copy waits beside the live path.</summary>
        sealed record Changed(RenderedFile File, string Temp)
        {
            public string Path => File.Path;
            public string Name => System.IO.Path.GetFileName(File.Path);
        }

        public async Task<ReconcileResult> Go(CancellationToken cancel)
        {
            try
            {
                await Apply(cancel);
                Log($"postfix reloads since start: {stack.PostfixReloads}; dovecot reloads since start: {stack.DovecotReloads}");
                Log($"done in {clock.ElapsedMilliseconds} ms");
                return ReconcileResult.Success(log);
            }
            catch (Exception e) when (e is StepFailed or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                Log($"{step} failed: {e.Message}");
                await Rollback();
                return ReconcileResult.Failed(step, e.Message, log);
            }
            finally
            {
                foreach (var path in leftovers)
                    try { File.Delete(path); }
                    catch (IOException) { }
            }
        }

        async Task Rollback()
        {
            for (var i = undo.Count - 1; i >= 0; i--)
            {
                try
                {
                    await undo[i].Undo(CancellationToken.None);
                    Log($"restored {undo[i].What}");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or StepFailed)
                {
                    Log($"could not restore {undo[i].What}: {e.Message}");
                }
            }
        }

        long lap;

        void CrashPoint(string name)
        {
            if (stack.CrashAt == name) Posix.Kill(Environment.ProcessId, 9);
        }

        /// <summary>Milliseconds since the previous lap: the log says where an apply spends its time.</summary>
        long Lap()
        {
            var now = clock.ElapsedMilliseconds;
            var took = now - lap;
            lap = now;
            return took;
        }

        async Task Apply(CancellationToken cancel)
        {
            step = "snapshot";
            var (snap, read) = MailStackStore.Open(stack.store);
            List<Changed> changed;
            int fileCount;
            using (read)
            {
                Log($"snapshot: {snap.Domains.Count} domains, {snap.Users.Count} mailboxes, {snap.Aliases.Count} aliases ({Lap()} ms)");

                step = "directories";
                s = stack.Settings();
                EnsureDirectories();
                SweepLeftovers();

                // Render each file against its live path: only the files that differ get a temp copy
                // and go on. A map with a dirty mark (an in-place update that a crash may have cut
                // short) or without its .lmdb counts as changed whatever its source says. The files
                // that stream mailboxes from the one read transaction render one after the other,
                // beside the rest.
                step = "render";
                var files = MailRender.All(snap, s);
                fileCount = files.Count;
                var stale = new bool[files.Count];
                foreach (var f in files) leftovers.Add(AtomicFile.TempName(f.Path));
                void RenderAll(IEnumerable<int> indexes)
                {
                    foreach (var i in indexes)
                    {
                        var f = files[i];
                        stale[i] = CompareWriteStream.Render(f.Path, AtomicFile.TempName(f.Path), f.Write)
                            || (f.Kind == MailFileKind.PostfixMap && (!File.Exists(f.Path + ".lmdb") || File.Exists(DirtyMark(f.Path))));
                    }
                }
                var all = Enumerable.Range(0, files.Count).ToList();
                await Task.WhenAll(
                    Task.Run(() => RenderAll(all.Where(i => files[i].ReadsStore)), cancel),
                    Task.Run(() => RenderAll(all.Where(i => !files[i].ReadsStore)), cancel));
                changed = [];
                for (var i = 0; i < files.Count; i++)
                    if (stale[i]) changed.Add(new Changed(files[i], EnsureTemp(files[i])));
            }
            Log($"rendered and compared {fileCount} files ({Lap()} ms, managed heap {GC.GetTotalMemory(false) >> 20} MB)");
            CrashPoint("rendered");
            if (changed.Count == 0)
            {
                Log("no changes");
                return;
            }
            Log("changed: " + string.Join(", ", changed.Select(c => c.Name)));

            postfixInstalled = Sys.Run.Which("postfix") is not null && Sys.Run.Which("postmap") is not null;
            dovecotInstalled = Sys.Run.Which("doveconf") is not null;
            if (!postfixInstalled) Log("postfix not installed: postmap, postfix check and reload skipped");
            if (!dovecotInstalled) Log("dovecot not installed: doveconf and reload skipped");

            // 1. Daemon configs: install, then validate in place (postfix check needs the real directory);
            //    nothing has been reloaded yet, so a failure here never reaches the running daemons.
            var postfixConf = changed.Where(c => c.File.Kind == MailFileKind.PostfixConfig).ToList();
            var dovecotConf = changed.Where(c => c.File.Kind == MailFileKind.DovecotConfig).ToList();
            foreach (var c in postfixConf.Concat(dovecotConf)) InstallSmall(c);
            CrashPoint("configs");
            if (postfixConf.Count > 0 && postfixInstalled)
            {
                step = "postfix check";
                // postconf names the bad line on stderr; `postfix check` then covers files and permissions.
                await Require("postconf", ["-c", s.PostfixDir, "-n"], cancel, quiet: true);
                await Require("postfix", ["-c", s.PostfixDir, "check"], cancel);
            }
            if (dovecotConf.Count > 0 && dovecotInstalled)
            {
                step = "doveconf";
                await Require("doveconf", ["-c", s.DovecotConf, "-n"], cancel, quiet: true);
            }

            // 2. The users dict before the Postfix maps when mailboxes are added or changed (LMTP must
            //    know a mailbox before Postfix routes mail to it); after them when mailboxes only go away
            //    (their logins keep working until the maps stop routing mail to them). Dovecot sees each
            //    replacement on its next lookup: the file dict compares inodes.
            //    The mailbox map has exactly the users dict's addresses, so its diff tells which way the
            //    users go without reading the 15 MB dict twice; only a rebuilt map needs CompareUsers.
            var users = changed.FirstOrDefault(c => c.File.Kind == MailFileKind.DovecotAuth);
            var maps = changed.Where(c => c.File.Kind == MailFileKind.PostfixMap).ToList();
            step = "compare";
            var deltas = maps.ToDictionary(m => m.Name, Delta);
            var usersLast = false;
            if (users is not null)
            {
                step = "dovecot users";
                var mailboxes = maps.FirstOrDefault(m => m.Name == "vmailbox");
                var change = mailboxes is null ? new UsersChange(true, false)
                    : deltas[mailboxes.Name] is { } d ? new UsersChange(d.Put.Count > 0, d.Delete.Count > 0)
                    : FileDiff.CompareUsers(users.Path, users.Temp);
                KeepPrevious(users.Path);
                usersLast = !change.AddsOrChanges && change.Removes && maps.Count > 0;
                if (!usersLast)
                {
                    AtomicFile.Install(users.Temp, users.Path, Mode0640, DovecotOwner);
                    Log($"users dict in effect ({Lap()} ms)");
                }
                CrashPoint("users");
            }

            // 3. Maps: a few changed keys go into the live .lmdb in place (postmap -i / -d: one LMDB
            //    transaction each, readers see old or new); bigger changes are built under a temp name
            //    and renamed over. Postfix daemons notice a changed table by themselves: no reload.
            //    The table changes before its source: a crash (kill -9) between the two leaves an old
            //    source that the next compare sees as stale; a dirty mark covers the in-place update.
            step = "postmap";
            if (maps.Count > 0)
            {
                await Task.WhenAll(maps.Select(m => ApplyMap(m, deltas[m.Name], cancel)));
                Log($"maps: {string.Join(", ", maps.Select(m => m.Name))} ({Lap()} ms)");
                CrashPoint("maps");
            }

            if (usersLast)
            {
                step = "dovecot users";
                AtomicFile.Install(users!.Temp, users.Path, Mode0640, DovecotOwner);
                Log("users dict in effect (mailboxes removed after the maps)");
                CrashPoint("users");
            }

            // 4. Reload only what needs it; a daemon that is not running keeps nothing to reload.
            //    Mailbox and alias maps are looked up by smtpd/cleanup, which check for a replaced table
            //    before each new connection. Domain class and transports are resolved by trivial-rewrite,
            //    which its clients (qmgr, every smtpd) keep connected for up to ipc_ttl and which only
            //    notices a replaced table when a new client connects: a changed domain list or transport
            //    therefore needs the reload, or a new domain would read "Relay access denied" for minutes.
            var resolverMaps = maps.Where(m => m.Name is "vdomains" or "transport" or "sender_transport").ToList();
            if ((postfixConf.Count > 0 || resolverMaps.Count > 0) && postfixInstalled)
            {
                step = "postfix reload";
                if (await IsRunning("postfix", cancel))
                {
                    await Require("postfix", ["-c", s.PostfixDir, "reload"], cancel);
                    Interlocked.Increment(ref stack.postfixReloads);
                    Log(postfixConf.Count > 0 ? "postfix reloaded (main.cf/master.cf changed)"
                        : $"postfix reloaded ({string.Join(", ", resolverMaps.Select(m => m.Name))} changed: trivial-rewrite caches them)");
                }
                else Log("postfix not running: reload skipped");
            }
            if (dovecotConf.Count > 0 && dovecotInstalled)
            {
                step = "dovecot reload";
                if (await IsRunning("dovecot", cancel))
                {
                    await Require("doveadm", ["-c", s.DovecotConf, "reload"], cancel);
                    Interlocked.Increment(ref stack.dovecotReloads);
                    Log("dovecot reloaded");
                }
                else Log("dovecot not running: reload skipped");
            }
        }

        static (uint, uint)? RootOwner => (0u, 0u);

        (uint, uint)? DovecotOwner => Posix.LookupGroup("dovecot") is { } gid ? (0u, gid) : null;

        /// <summary>Marks a map whose .lmdb is being changed in place; present at the next apply = rebuild it whole.</summary>
        static string DirtyMark(string source) => HiddenName(source, "mp-dirty");

        static string PreviousName(string path) => HiddenName(path, "mp-prev");

        static string HiddenName(string path, string suffix) =>
            Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{suffix}");

        /// <summary>Files earlier builds rendered and this one does not: the passwd-file and deny lists of the first build (stale hashes must not linger).</summary>
        static readonly string[] Obsolete = ["users", "deny.imap", "deny.pop3", "deny.smtp"];

        /// <summary>Temp files and previous versions left by an apply that was killed: never live data.</summary>
        void SweepLeftovers()
        {
            foreach (var name in Obsolete)
            {
                var path = Path.Combine(s.DovecotDir, name);
                if (!File.Exists(path)) continue;
                AtomicFile.Delete(path);
                Log($"removed {name} (rendered by an earlier build, replaced by {MailRender.UsersDict})");
            }
            foreach (var dir in new[] { s.PostfixDir, s.DovecotDir })
                foreach (var file in Directory.EnumerateFiles(dir, ".*"))
                {
                    var name = Path.GetFileName(file);
                    if (name.Contains(".tmp.", StringComparison.Ordinal) || name.EndsWith(".mp-prev", StringComparison.Ordinal))
                    {
                        File.Delete(file);
                        Log($"removed {name} (left by an interrupted apply)");
                    }
                }
        }

        /// <summary>The temp copy of a changed file; a map whose source is unchanged (only its table is stale) gets one copied from the live source.</summary>
        static string EnsureTemp(RenderedFile f)
        {
            var temp = AtomicFile.TempName(f.Path);
            if (!File.Exists(temp)) File.Copy(f.Path, temp);
            return temp;
        }

        /// <summary>
        /// Keeps the live file reachable under a hidden second name (a hard link: no copy) and registers
        /// the undo that renames it back, or removes the file when there was none before.
        /// </summary>
        void KeepPrevious(string path, Func<CancellationToken, Task>? then = null)
        {
            var previous = PreviousName(path);
            var existed = File.Exists(path);
            if (existed)
            {
                File.Delete(previous);
                Posix.Link(path, previous);
                lock (leftovers) leftovers.Add(previous);
            }
            async Task Restore(CancellationToken c)
            {
                if (existed) { File.Move(previous, path, overwrite: true); Posix.FsyncDirectory(Path.GetDirectoryName(path)!); }
                else AtomicFile.Delete(path);
                if (then is not null) await then(c);
            }
            lock (undo) undo.Add((Path.GetFileName(path), Restore));
        }

        /// <summary>main.cf, master.cf, dovecot.conf and its dict configs: replaced whole, previous version kept for the undo.</summary>
        void InstallSmall(Changed c)
        {
            KeepPrevious(c.Path);
            AtomicFile.Install(c.Temp, c.Path, Mode0644, RootOwner);
            Log($"wrote {c.Path}");
        }

        /// <summary>What changed in a map, when it can be applied in place (else null: rebuild the table whole).</summary>
        MapDelta? Delta(Changed m) =>
            postfixInstalled && File.Exists(m.Path + ".lmdb") && File.Exists(m.Path) && !File.Exists(DirtyMark(m.Path))
                ? FileDiff.DiffMap(m.Path, m.Temp, IncrementalMapLimit, m.File.KeyOrder) : null;

        /// <summary>One changed map: its table first (in place or rebuilt), then its source.</summary>
        async Task ApplyMap(Changed m, MapDelta? delta, CancellationToken cancel)
        {
            var lmdb = m.Path + ".lmdb";
            var dirty = DirtyMark(m.Path);
            // Undo: the previous source back, and its table rebuilt from it (or both gone if new).
            KeepPrevious(m.Path, async c =>
            {
                if (!File.Exists(m.Path)) { AtomicFile.Delete(lmdb); return; }
                if (postfixInstalled) await BuildTable(m.Path, m.Path, c);
                AtomicFile.Delete(dirty);
            });
            if (!postfixInstalled)
            {
                AtomicFile.Install(m.Temp, m.Path, Mode0644, RootOwner);
                return;
            }
            if (delta is null)
            {
                await BuildTable(m.Temp, m.Path, cancel);
                CrashPoint("map-table");
                AtomicFile.Install(m.Temp, m.Path, Mode0644, RootOwner);
                AtomicFile.Delete(dirty);
                Log($"{m.Name}: table rebuilt");
                return;
            }
            File.WriteAllBytes(dirty, []);
            Posix.FsyncDirectory(Path.GetDirectoryName(dirty)!);
            CrashPoint("map-dirty");
            if (delta.Put.Count > 0)
                await Require("postmap", ["-c", s.PostfixDir, "-i", "-r", "lmdb:" + m.Path], cancel, quiet: true, stdin: string.Join('\n', delta.Put) + "\n");
            if (delta.Delete.Count > 0)
            {
                // Exit 1 with nothing on stderr only means "some key was not there" (a retried delete).
                var r = await Sys.Run.Exec("postmap", ["-c", s.PostfixDir, "-d", "-", "lmdb:" + m.Path], stdin: string.Join('\n', delta.Delete) + "\n", cancel: cancel);
                if (!r.Ok && !(r.ExitCode == 1 && r.Stderr.Trim().Length == 0 && !r.TimedOut && !r.NotFound))
                    throw new StepFailed(r.Describe("postmap -d"));
            }
            CrashPoint("map-table");
            AtomicFile.Install(m.Temp, m.Path, Mode0644, RootOwner);
            AtomicFile.Delete(dirty);
            Log($"{m.Name}: {delta.Put.Count} put, {delta.Delete.Count} deleted in place");
        }

        /// <summary>Builds <paramref name="target"/>.lmdb from the source file <paramref name="from"/> under a temp name and renames it into place.</summary>
        async Task BuildTable(string from, string target, CancellationToken cancel)
        {
            // postmap writes FILE.lmdb beside FILE: build from a temp copy and rename only the finished table.
            var temp = AtomicFile.TempName(target) + ".build";
            try
            {
                File.Copy(from, temp, overwrite: true);
                await Require("postmap", ["-c", s.PostfixDir, "lmdb:" + temp], cancel, quiet: true);
                AtomicFile.Install(temp + ".lmdb", target + ".lmdb", Mode0644);
            }
            finally
            {
                foreach (var leftover in new[] { temp, temp + ".lmdb", temp + ".lmdb-lock" })
                    if (File.Exists(leftover)) File.Delete(leftover);
            }
        }

        async Task Require(string program, string[] args, CancellationToken cancel, bool quiet = false, string? stdin = null)
        {
            var result = await Sys.Run.Exec(program, args, stdin: stdin, cancel: cancel);
            if (!result.Ok) throw new StepFailed(result.Describe($"{program} {string.Join(' ', args)}"));
            if (!quiet) Log($"{program} {args[^1]}: ok");
        }

        async Task<bool> IsRunning(string name, CancellationToken cancel) =>
            (await stack.probe.Status(name, cancel)).State == ServiceState.Running;

        /// <summary>The directories Postfix and Dovecot expect, with the owners FINDINGS verified (created only when missing).</summary>
        void EnsureDirectories()
        {
            // sun_path holds 108 bytes; Postfix's fatal about it only reaches a tty, so say it here.
            var longest = Path.Combine(s.QueueDir, "private", "quota-status");
            if (System.Text.Encoding.UTF8.GetByteCount(longest) > 100)
                throw new StepFailed($"SYSROOT is too long for unix socket paths ({longest} exceeds 100 bytes)");
            var postfix = Posix.LookupUser("postfix");
            Dir(s.PostfixDir, Mode0755, (0, 0));
            Dir(s.DovecotDir, Mode0755, (0, 0));
            Dir(s.LogDir, Mode0755, (0, 0));
            Dir(s.QueueDir, Mode0755, (0, 0));
            Dir(Path.Combine(s.QueueDir, "private"), Mode0700, postfix is { } p1 ? (p1.Uid, 0) : null);
            Dir(s.PostfixDataDir, Mode0700, postfix);
            Dir(s.DovecotBaseDir, Mode0755, (0, 0));
            Dir(s.DovecotStateDir, Mode0755, (0, 0));
        }

        static void Dir(string path, UnixFileMode mode, (uint Uid, uint Gid)? owner)
        {
            if (Directory.Exists(path)) return;
            // Explicit modes: the host's umask may be 0, and `postfix check` refuses group/other-writable parents.
            Directory.CreateDirectory(path, Mode0755);
            File.SetUnixFileMode(path, mode);
            if (owner is { } o && Posix.IsRoot) Posix.Chown(path, o.Uid, o.Gid);
        }
    }
}
