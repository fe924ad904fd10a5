using System.Diagnostics;
using MailPanel.Core;
using MailPanel.Render;
using MailPanel.Store;
using MailPanel.Sys;

namespace MailPanel.Mail;

/// <summary>
/// Applies the store's state to the mail daemons (<see cref="Units.All"/>), the same way for each:
/// snapshot -> render every unit's files -> compare with disk -> install only what changed
/// (atomically, with the file's mode and group; by its <see cref="FileRole"/>) -> run the checks of
/// each unit whose configs changed -> reload, in unit order, only the units that need it. Any
/// failure puts the previous files back, leaves the running daemons on their old config and names
/// the failing step. Called by the Reconciler only, so two applies never overlap.
/// </summary>
internal sealed partial class MailStack(AppConfig config, Db db, Services services, ILogger<MailStack> logger)
{
    readonly Db store = db;
    readonly Services probe = services;
    readonly ILogger log = logger;

    const UnixFileMode Mode0644 = RenderedFile.Mode0644;

    readonly long[] reloads = new long[Units.All.Length];

    public AppConfig Config => config;

    public Db Db => store;

    /// <summary>Reloads of <paramref name="unit"/> since start.</summary>
    public long Reloads(MailUnit unit) => Interlocked.Read(ref reloads[Array.IndexOf(Units.All, unit)]);

    /// <summary>`postfix reload`s since start: map-only changes must leave it alone.</summary>
    public long PostfixReloads => Reloads(Units.Postfix);

    /// <summary>Test hook: appended to main.cf (a broken line proves validation and rollback). Null in production.</summary>
    internal string? TestMainCfExtra { get; set; }

    /// <summary>Test hook: appended to mailpanel.sieve (a line that does not compile proves the Sieve check). Null in production.</summary>
    internal string? TestSieveExtra { get; set; }

    /// <summary>
    /// Test hook: MAILPANEL_TEST_CRASH_AT names a point of the apply (rendered, configs, users,
    /// map-dirty, map-table, maps) where the daemon sends itself SIGKILL, so the crash-safety test can
    /// stop an apply at every step boundary instead of hoping a timer lands there. Unset in production.
    /// </summary>
    internal string? CrashAt { get; set; } = Environment.GetEnvironmentVariable("MAILPANEL_TEST_CRASH_AT");

    /// <summary>Test hook: extra transport_maps lines (e.g. a destination that is never reachable).</summary>
    internal IReadOnlyList<string> TestTransport { get; set; } = [];

    /// <summary>Debian's publicsuffix package (an OpenDMARC dependency): read from the host, not from SYSROOT.</summary>
    const string PublicSuffixList = "/usr/share/publicsuffix/public_suffix_list.dat";

    /// <param name="installed">The units whose programs are on this host (the render wires Postfix to OpenDKIM only when it is there).</param>
    public RenderSettings Settings(IReadOnlySet<MailUnit> installed)
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
            ImapsListen = config.ImapsListen,
            Pop3sListen = config.Pop3sListen,
            ExtraTransport = TestTransport,
            ExtraMainCf = TestMainCfExtra ?? "",
            ExtraSieve = TestSieveExtra ?? "",
            OpenDkim = installed.Contains(Units.OpenDkim),
            OpenDkimUser = Posix.LookupUser("opendkim") is null ? null : "opendkim",
            OpenDmarc = installed.Contains(Units.OpenDmarc),
            OpenDmarcUser = Posix.LookupUser("opendmarc") is null ? null : "opendmarc",
            PublicSuffixList = File.Exists(PublicSuffixList) ? PublicSuffixList : null,
            ContentFilter = true, // served by this daemon (Api/MilterServer.cs)
        };
    }

    public Task<ReconcileResult> Apply(CancellationToken cancel) => new Attempt(this).Go(cancel);

    /// <summary>One apply: its log, the undo list, and the step it is in.</summary>
    sealed partial class Attempt(MailStack stack)
    {
        readonly List<string> log = [];
        readonly List<(string What, Func<CancellationToken, Task> Undo)> undo = [];
        readonly List<string> leftovers = []; // temp files and previous versions, removed when the apply ends
        readonly Stopwatch clock = Stopwatch.StartNew();
        string step = "snapshot";
        RenderSettings s = null!;
        readonly HashSet<MailUnit> installed = [];

        void Log(string line)
        {
            lock (log) log.Add(line); // maps are applied in parallel
            stack.log.LogDebug("reconcile: {Line}", line);
        }

        sealed class StepFailed(string message) : Exception(message);

        /// <summary>A rendered file of <paramref name="Unit"/> that differs from disk: its temp copy waits beside the live path.</summary>
        sealed record Changed(MailUnit Unit, RenderedFile File, string Temp)
        {
            public string Path => File.Path;
            public string Name => File.Name;
            public FileRole Role => File.Role;
        }

        public async Task<ReconcileResult> Go(CancellationToken cancel)
        {
            try
            {
                await Apply(cancel);
                Log(string.Join("; ", Units.All.Select(u => $"{u.Name} reloads since start: {stack.Reloads(u)}")));
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
            var (stored, read) = MailStackStore.Open(stack.store);
            var snap = Units.WithFileFacts(stored, new MailPaths(stack.Config.SysRoot));
            List<Changed> changed;
            List<(MailUnit Unit, string Path)> removed;
            int fileCount;
            using (read)
            {
                Log($"snapshot: {snap.Domains.Count} domains, {snap.Users.Count} mailboxes, {snap.Aliases.Count} aliases ({Lap()} ms)");

                step = "directories";
                foreach (var unit in Units.All.Where(u => u.Programs.All(p => Sys.Run.Which(p) is not null))) installed.Add(unit);
                s = stack.Settings(installed);
                EnsureDirectories();
                SweepLeftovers();

                // Render each file against its live path: only the files that differ get a temp copy
                // and go on. A table with a dirty mark (an in-place update that a crash may have cut
                // short) or without its .lmdb counts as changed whatever its source says. The files
                // that stream mailboxes from the one read transaction render one after the other,
                // beside the rest.
                step = "render";
                var files = Units.All.SelectMany(u => u.Render(snap, s).Select(f => (Unit: u, File: f))).ToList();
                fileCount = files.Count;
                var stale = new bool[files.Count];
                foreach (var (_, f) in files) leftovers.Add(AtomicFile.TempName(f.Path));
                void RenderAll(IEnumerable<int> indexes)
                {
                    foreach (var i in indexes)
                    {
                        var f = files[i].File;
                        stale[i] = CompareWriteStream.Render(f.Path, AtomicFile.TempName(f.Path), f.Write)
                            || (f.Role == FileRole.Table && (!File.Exists(f.Path + ".lmdb") || File.Exists(DirtyMark(f.Path))));
                    }
                }
                var all = Enumerable.Range(0, files.Count).ToList();
                await Task.WhenAll(
                    Task.Run(() => RenderAll(all.Where(i => files[i].File.ReadsStore)), cancel),
                    Task.Run(() => RenderAll(all.Where(i => !files[i].File.ReadsStore)), cancel));
                changed = [];
                for (var i = 0; i < files.Count; i++)
                    if (stale[i]) changed.Add(new Changed(files[i].Unit, files[i].File, EnsureTemp(files[i].File)));
                removed = Unrendered(files.Select(f => f.File.Path));
            }
            Log($"rendered and compared {fileCount} files ({Lap()} ms, managed heap {GC.GetTotalMemory(false) >> 20} MB)");
            CrashPoint("rendered");
            if (changed.Count == 0 && removed.Count == 0)
            {
                Log("no changes");
                return;
            }
            if (changed.Count > 0) Log("changed: " + string.Join(", ", changed.Select(c => c.Name)));

            foreach (var unit in Units.All.Where(u => !installed.Contains(u))) Log(unit.NotInstalled);

            // 1. Configs: install, then check in place (postfix check needs the real directory);
            //    nothing has been reloaded yet, so a failure here never reaches the running daemons.
            var configs = changed.Where(c => c.Role == FileRole.Config).ToList();
            foreach (var c in configs) InstallWhole(c);
            foreach (var (_, path) in removed) RemoveWhole(path);
            CrashPoint("configs");
            foreach (var unit in Units.All.Where(u => installed.Contains(u) && (configs.Any(c => c.Unit == u) || removed.Any(r => r.Unit == u))))
            {
                step = $"{unit.Name} check";
                foreach (var check in unit.Checks(s)) await Require(check, cancel);
            }

            // 2. A lookup file before the tables when entries are added or changed (LMTP must know a
            //    mailbox before Postfix routes mail to it); after them when entries only go away (their
            //    logins keep working until the maps stop routing mail to them). Its mirror table's diff
            //    tells which way it goes without reading the 15 MB users dict twice; only a rebuilt
            //    mirror needs CompareUsers.
            var tables = changed.Where(c => c.Role == FileRole.Table).ToList();
            step = "compare";
            var deltas = tables.ToDictionary(m => m.Name, Delta);
            var lookupsLast = new List<Changed>();
            foreach (var lookup in changed.Where(c => c.Role == FileRole.Lookup))
            {
                step = $"{lookup.Unit.Name} {lookup.Name}";
                var mirror = tables.FirstOrDefault(m => m.Name == lookup.File.MirrorOf);
                var change = mirror is null ? new UsersChange(true, false)
                    : deltas[mirror.Name] is { } d ? new UsersChange(d.Put.Count > 0, d.Delete.Count > 0)
                    : FileDiff.CompareUsers(lookup.Path, lookup.Temp);
                KeepPrevious(lookup.Path);
                if (!change.AddsOrChanges && change.Removes && tables.Count > 0)
                {
                    lookupsLast.Add(lookup);
                    continue;
                }
                Install(lookup);
                Log($"{lookup.Name} in effect ({Lap()} ms)");
                CrashPoint("users");
            }

            // 3. Tables (see TableInstall.cs), all at once.
            step = "postmap";
            if (tables.Count > 0)
            {
                await Task.WhenAll(tables.Select(m => ApplyTable(m, deltas[m.Name], cancel)));
                Log($"maps: {string.Join(", ", tables.Select(m => m.Name))} ({Lap()} ms)");
                CrashPoint("maps");
            }

            foreach (var lookup in lookupsLast)
            {
                step = $"{lookup.Unit.Name} {lookup.Name}";
                Install(lookup);
                Log($"{lookup.Name} in effect (entries removed after the maps)");
                CrashPoint("users");
            }

            // 4. Reload, in unit order, each unit whose configs changed or one of whose tables says a
            //    change needs it; a daemon that is not running keeps nothing to reload.
            foreach (var unit in Units.All.Where(u => installed.Contains(u) && u.Reloads))
            {
                var why = changed.Where(c => c.Unit == unit && (c.Role == FileRole.Config || c.File.ReloadsDaemon)).Select(c => c.Name).ToList();
                if (why.Count == 0) continue;
                step = $"{unit.Name} reload";
                if (!await IsRunning(unit.Service, cancel))
                {
                    Log($"{unit.Name} not running: reload skipped");
                    continue;
                }
                await unit.Reload(s, cancel);
                Interlocked.Increment(ref stack.reloads[Array.IndexOf(Units.All, unit)]);
                Log($"{unit.Name} reloaded ({string.Join(", ", why)} changed)");
            }
        }

        /// <summary>root and the file's group; a group the host lacks leaves the group alone.</summary>
        static (uint, uint)? Owner(RenderedFile f) =>
            f.Group is null ? (0u, 0u) : Posix.LookupGroup(f.Group) is { } gid ? (0u, gid) : null;

        /// <summary>Puts the temp copy in place: one rename, with the file's mode and owner.</summary>
        static void Install(Changed c) => AtomicFile.Install(c.Temp, c.Path, c.File.Mode, Owner(c.File));

        static string PreviousName(string path) => HiddenName(path, "mp-prev");

        static string HiddenName(string path, string suffix) =>
            Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{suffix}");

        /// <summary>Files of earlier builds, and temp files and previous versions left by an apply that was killed: never live data.</summary>
        void SweepLeftovers()
        {
            foreach (var path in Units.All.SelectMany(u => u.Obsolete(s)).Where(File.Exists))
            {
                AtomicFile.Delete(path);
                Log($"removed {Path.GetFileName(path)} (rendered by an earlier build, no longer used)");
            }
            foreach (var dir in Units.All.SelectMany(u => u.Directories(s)).Where(d => d.Sweep))
                foreach (var file in Directory.EnumerateFiles(dir.Path, ".*"))
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

        /// <summary>
        /// The files in the units' owned directories that this render did not yield, with their
        /// companions (same name, another extension: sievec's .svbin beside a script), by unit.
        /// </summary>
        List<(MailUnit Unit, string Path)> Unrendered(IEnumerable<string> rendered)
        {
            var stems = rendered.Select(p => Path.Combine(Path.GetDirectoryName(p)!, Path.GetFileNameWithoutExtension(p))).ToHashSet(StringComparer.Ordinal);
            var list = new List<(MailUnit, string)>();
            foreach (var unit in Units.All)
                foreach (var dir in unit.Directories(s).Where(d => d.Owned && Directory.Exists(d.Path)))
                    foreach (var file in Directory.EnumerateFiles(dir.Path).Order(StringComparer.Ordinal))
                        if (!Path.GetFileName(file).StartsWith('.') && !stems.Contains(Path.Combine(dir.Path, Path.GetFileNameWithoutExtension(file))))
                            list.Add((unit, file));
            return list;
        }

        /// <summary>A file no longer rendered: removed, the previous version kept for the undo.</summary>
        void RemoveWhole(string path)
        {
            KeepPrevious(path);
            AtomicFile.Delete(path);
            Log($"removed {path} (no longer rendered)");
        }

        /// <summary>A config: replaced whole, the previous version kept for the undo.</summary>
        void InstallWhole(Changed c)
        {
            KeepPrevious(c.Path);
            Install(c);
            Log($"wrote {c.Path}");
        }

        async Task Require(string program, string[] args, CancellationToken cancel, bool quiet = false, string? stdin = null)
        {
            var result = await Sys.Run.Exec(program, args, stdin: stdin, cancel: cancel);
            if (!result.Ok) throw new StepFailed(result.Describe($"{program} {string.Join(' ', args)}"));
            if (!quiet) Log($"{program} {args[^1]}: ok");
        }

        Task Require(UnitCommand command, CancellationToken cancel) => Require(command.Program, command.Args, cancel, command.Quiet);

        async Task<bool> IsRunning(string name, CancellationToken cancel) =>
            (await stack.probe.Status(name, cancel)).State == ServiceState.Running;

        /// <summary>The directories the units need (made only when missing).</summary>
        void EnsureDirectories()
        {
            // sun_path holds 108 bytes; Postfix's fatal about it only reaches a tty, so say it here.
            var longest = Path.Combine(s.QueueDir, "private", "quota-status");
            if (System.Text.Encoding.UTF8.GetByteCount(longest) > 100)
                throw new StepFailed($"SYSROOT is too long for unix socket paths ({longest} exceeds 100 bytes)");
            foreach (var dir in Units.All.SelectMany(u => u.Directories(s)))
            {
                var user = dir.User is null ? null : Posix.LookupUser(dir.User);
                var group = dir.Group is null ? null : Posix.LookupGroup(dir.Group);
                Posix.EnsureDirectory(dir.Path, dir.Mode, dir.User is null ? (0, group ?? 0) : user is { } u ? (u.Uid, group ?? (dir.UserGroup ? u.Gid : 0)) : null);
            }
        }
    }
}
