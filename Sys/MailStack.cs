using System.Diagnostics;
using System.Text;

namespace MailPanel;

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

    /// <summary>Test hook: extra transport_maps lines (e.g. a destination that is never reachable).</summary>
    internal IReadOnlyList<string> TestTransport { get; set; } = [];

    public RenderSettings Settings()
    {
        var vmail = Posix.LookupUser("vmail");
        return new RenderSettings
        {
            Paths = new MailPaths(config),
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

    /// <summary>One apply: its log, the undo list, and the step it is in.</summary>
    sealed class Attempt(MailStack stack)
    {
        readonly List<string> log = [];
        readonly List<(string What, Func<CancellationToken, Task> Undo)> undo = [];
        readonly Stopwatch clock = Stopwatch.StartNew();
        string step = "snapshot";
        long authSecond = long.MinValue; // the newest mtime second given to a users/deny file
        RenderSettings s = null!;

        void Log(string line)
        {
            log.Add(line);
            stack.log.LogDebug("reconcile: {Line}", line);
        }

        sealed class StepFailed(string message) : Exception(message);

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
            if (authSecond != long.MinValue) await WaitAuthVisible(CancellationToken.None);
        }

        async Task Apply(CancellationToken cancel)
        {
            step = "snapshot";
            var snap = MailStackStore.Load(stack.store);
            step = "render";
            s = stack.Settings();
            var files = MailRender.All(snap, s);
            Log($"rendered {files.Count} files: {snap.Domains.Count} domains, {snap.Users.Count} mailboxes, {snap.Aliases.Count} aliases");

            step = "directories";
            EnsureDirectories();

            step = "compare";
            var old = new Dictionary<string, byte[]?>(StringComparer.Ordinal);
            var changed = new List<RenderedFile>();
            foreach (var f in files)
            {
                var current = File.Exists(f.Path) ? await File.ReadAllBytesAsync(f.Path, cancel) : null;
                old[f.Path] = current;
                var stale = current is null || !current.AsSpan().SequenceEqual(f.Bytes)
                    || (f.Kind == MailFileKind.PostfixMap && !File.Exists(f.Path + ".lmdb"));
                if (stale) changed.Add(f);
            }
            if (changed.Count == 0)
            {
                Log("no changes");
                return;
            }
            Log("changed: " + string.Join(", ", changed.Select(f => Path.GetFileName(f.Path))));

            var postfixInstalled = MailPanel.Run.Which("postfix") is not null && MailPanel.Run.Which("postmap") is not null;
            var dovecotInstalled = MailPanel.Run.Which("doveconf") is not null;
            if (!postfixInstalled) Log("postfix not installed: postmap, postfix check and reload skipped");
            if (!dovecotInstalled) Log("dovecot not installed: doveconf and reload skipped");

            // 1. Daemon configs: write, then validate in place (postfix check needs the real directory);
            //    nothing has been reloaded yet, so a failure here never reaches the running daemons.
            var postfixConf = changed.Where(f => f.Kind == MailFileKind.PostfixConfig).ToList();
            var dovecotConf = changed.Where(f => f.Kind == MailFileKind.DovecotConfig).ToList();
            foreach (var f in postfixConf.Concat(dovecotConf)) WritePlain(f, old[f.Path]);
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

            // 2. Dovecot users/deny before the Postfix maps when logins are added (LMTP must know a
            //    mailbox before Postfix accepts mail for it); removals leave users after the maps.
            var users = changed.FirstOrDefault(f => f.Path.EndsWith("/users", StringComparison.Ordinal));
            var deny = changed.Where(f => f.Kind == MailFileKind.DovecotAuth && f != users).ToList();
            var maps = changed.Where(f => f.Kind == MailFileKind.PostfixMap).ToList();
            byte[]? finalUsers = null;
            var addsLogins = false;
            step = "dovecot users";
            if (users is not null)
            {
                var (first, adds) = FirstPhase(old[users.Path], users.Bytes);
                addsLogins = adds;
                WriteAuth(users.Path, first, old[users.Path]);
                if (!first.AsSpan().SequenceEqual(users.Bytes)) finalUsers = users.Bytes;
            }
            foreach (var f in deny) WriteAuth(f.Path, f.Bytes, old[f.Path]);
            if (addsLogins && maps.Count > 0)
            {
                var waited = await WaitAuthVisible(cancel);
                Log($"waited {waited} ms for dovecot to see the new users before the postfix maps");
            }

            // 3. Maps: postmap into a temp name, rename over the live .lmdb. Postfix daemons notice the
            //    replaced file and restart on their own: no reload (FINDINGS, "Maps (lmdb)").
            //    The .lmdb goes in before its source: a crash (kill -9) between the two leaves the old
            //    source beside the new table, which the next compare sees as stale and rebuilds. The
            //    other order would leave a new source over an old table that no compare ever notices.
            step = "postmap";
            if (postfixInstalled && maps.Count > 0)
                await Task.WhenAll(maps.Select(f => BuildMap(f.Path, f.Bytes, cancel)));
            foreach (var f in maps) WritePlain(f, old[f.Path], register: false);
            foreach (var f in maps)
            {
                var previous = old[f.Path];
                undo.Add((Path.GetFileName(f.Path), async c =>
                {
                    if (previous is null) { AtomicFile.Delete(f.Path + ".lmdb"); AtomicFile.Delete(f.Path); return; }
                    if (postfixInstalled) await BuildMap(f.Path, previous, c);
                    AtomicFile.Write(f.Path, previous, Mode0644, RootOwner);
                }
                ));
            }
            if (maps.Count > 0) Log($"rebuilt maps: {string.Join(", ", maps.Select(f => Path.GetFileName(f.Path)))}");

            step = "dovecot users";
            if (finalUsers is not null) WriteAuth(users!.Path, finalUsers, null, register: false);

            // 4. Reload only what needs it; a daemon that is not running keeps nothing to reload.
            //    Mailbox and alias maps are looked up by smtpd/cleanup, which check for a replaced table
            //    before each new connection. Domain class and transports are resolved by trivial-rewrite,
            //    which its clients (qmgr, every smtpd) keep connected for up to ipc_ttl and which only
            //    notices a replaced table when a new client connects: a changed domain list or transport
            //    therefore needs the reload, or a new domain would read "Relay access denied" for minutes.
            var resolverMaps = maps.Where(f => Path.GetFileName(f.Path) is "vdomains" or "transport" or "sender_transport").ToList();
            if ((postfixConf.Count > 0 || resolverMaps.Count > 0) && postfixInstalled)
            {
                step = "postfix reload";
                if (await IsRunning("postfix", cancel))
                {
                    await Require("postfix", ["-c", s.PostfixDir, "reload"], cancel);
                    Interlocked.Increment(ref stack.postfixReloads);
                    Log(postfixConf.Count > 0 ? "postfix reloaded (main.cf/master.cf changed)"
                        : $"postfix reloaded ({string.Join(", ", resolverMaps.Select(f => Path.GetFileName(f.Path)))} changed: trivial-rewrite caches them)");
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

            // 5. A replaced passwd-file counts only once the clock has left the second of its mtime:
            //    Dovecot stats it at most once a second per auth process.
            if (authSecond != long.MinValue)
            {
                step = "dovecot users";
                var waited = await WaitAuthVisible(cancel);
                Log($"dovecot users/deny in effect (waited {waited} ms for the next second)");
            }
        }

        static (uint, uint)? RootOwner => (0u, 0u);

        (uint, uint)? DovecotOwner => Posix.LookupGroup("dovecot") is { } gid ? (0u, gid) : null;

        void WritePlain(RenderedFile f, byte[]? previous, bool register = true)
        {
            AtomicFile.Write(f.Path, f.Bytes, Mode0644, RootOwner);
            if (register)
                undo.Add((Path.GetFileName(f.Path), _ =>
                {
                    if (previous is null) AtomicFile.Delete(f.Path);
                    else AtomicFile.Write(f.Path, previous, Mode0644, RootOwner);
                    return Task.CompletedTask;
                }
                ));
            Log($"wrote {f.Path}");
        }

        /// <summary>Replaces a passwd-file with its mtime strictly advanced: max(now, old + 1 s).</summary>
        void WriteAuth(string path, byte[] bytes, byte[]? previous, bool register = true)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var second = now;
            if (File.Exists(path)) second = Math.Max(now, new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeSeconds() + 1);
            AtomicFile.Write(path, bytes, Mode0640, DovecotOwner, DateTimeOffset.FromUnixTimeSeconds(second));
            authSecond = Math.Max(authSecond, second);
            if (register)
                undo.Add((Path.GetFileName(path), _ =>
                {
                    if (previous is null) AtomicFile.Delete(path);
                    else WriteAuth(path, previous, null, register: false);
                    return Task.CompletedTask;
                }
                ));
            Log($"wrote {path}");
        }

        /// <summary>Sleeps until the wall clock is past the newest passwd-file mtime second; returns the ms waited.</summary>
        async Task<long> WaitAuthVisible(CancellationToken cancel)
        {
            var started = Stopwatch.GetTimestamp();
            while (true)
            {
                var now = DateTimeOffset.UtcNow;
                var target = DateTimeOffset.FromUnixTimeSeconds(authSecond + 1);
                if (now >= target) break;
                await Task.Delay(target - now + TimeSpan.FromMilliseconds(2), cancel);
            }
            return (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        /// <summary>
        /// The users file to write first: the new one, plus (when logins also go away) the old lines
        /// of removed users, so they keep working until the maps stop routing mail to them.
        /// </summary>
        static (byte[] First, bool AddsLogins) FirstPhase(byte[]? oldBytes, byte[] newBytes)
        {
            var oldLines = ParseUsers(oldBytes);
            var newLines = ParseUsers(newBytes);
            var adds = newLines.Any(kv => !oldLines.TryGetValue(kv.Key, out var line) || line != kv.Value);
            var removed = oldLines.Where(kv => !newLines.ContainsKey(kv.Key)).ToList();
            if (removed.Count == 0 || !adds) return (adds ? newBytes : newBytes, adds);
            foreach (var (key, line) in removed) newLines[key] = line;
            var sb = new StringBuilder();
            foreach (var key in newLines.Keys.Order(StringComparer.Ordinal)) sb.Append(newLines[key]).Append('\n');
            return (Encoding.UTF8.GetBytes(sb.ToString()), adds);
        }

        static Dictionary<string, string> ParseUsers(byte[]? bytes)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            if (bytes is null) return map;
            foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0) map[line[..colon]] = line;
            }
            return map;
        }

        /// <summary>Builds source.lmdb from <paramref name="bytes"/> and renames it into place; the source file itself is not touched.</summary>
        async Task BuildMap(string source, byte[] bytes, CancellationToken cancel)
        {
            // postmap rewrites in place; build from a temp copy and rename only the finished table.
            var temp = AtomicFile.TempName(source);
            try
            {
                await File.WriteAllBytesAsync(temp, bytes, cancel);
                await Require("postmap", ["-c", s.PostfixDir, "lmdb:" + temp], cancel);
                File.SetUnixFileMode(temp + ".lmdb", Mode0644);
                using (var fs = new FileStream(temp + ".lmdb", FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
                File.Move(temp + ".lmdb", source + ".lmdb", overwrite: true);
                Posix.FsyncDirectory(Path.GetDirectoryName(source)!);
            }
            finally
            {
                foreach (var leftover in new[] { temp, temp + ".lmdb", temp + ".lmdb-lock" })
                    if (File.Exists(leftover)) File.Delete(leftover);
            }
        }

        async Task Require(string program, string[] args, CancellationToken cancel, bool quiet = false)
        {
            var result = await MailPanel.Run.Exec(program, args, cancel: cancel);
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
