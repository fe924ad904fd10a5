using MailPanel.Render;
using MailPanel.Sys;

namespace MailPanel.Mail;

internal sealed partial class MailStack
{
    /// <summary>A table change above this many entries is rebuilt whole rather than applied key by key.</summary>
    internal const int IncrementalMapLimit = 5000;

    // FileRole.Table: a few changed keys go into the live .lmdb in place (postmap -i / -d: one LMDB
    // transaction each, readers see old or new); bigger changes are built under a temp name and
    // renamed over. The table changes before its source: a crash (kill -9) between the two leaves an
    // old source that the next compare sees as stale; a dirty mark covers the in-place update.
    sealed partial class Attempt
    {
        /// <summary>Marks a table being changed in place; present at the next apply = rebuild it whole.</summary>
        static string DirtyMark(string source) => HiddenName(source, "mp-dirty");

        /// <summary>What changed in a map, when it can be applied in place (else null: rebuild the table whole).</summary>
        MapDelta? Delta(Changed m) =>
            installed.Contains(m.Unit) && File.Exists(m.Path + ".lmdb") && File.Exists(m.Path) && !File.Exists(DirtyMark(m.Path))
                ? FileDiff.DiffMap(m.Path, m.Temp, IncrementalMapLimit, m.File.KeyOrder) : null;

        /// <summary>One changed table: the .lmdb first (in place or rebuilt), then its source.</summary>
        async Task ApplyTable(Changed m, MapDelta? delta, CancellationToken cancel)
        {
            var lmdb = m.Path + ".lmdb";
            var built = installed.Contains(m.Unit);
            var dirty = DirtyMark(m.Path);
            // Undo: the previous source back, and its table rebuilt from it (or both gone if new).
            KeepPrevious(m.Path, async c =>
            {
                if (!File.Exists(m.Path)) { AtomicFile.Delete(lmdb); return; }
                if (built) await BuildTable(m.Path, m.Path, c);
                AtomicFile.Delete(dirty);
            });
            if (!built)
            {
                Install(m);
                return;
            }
            if (delta is null)
            {
                await BuildTable(m.Temp, m.Path, cancel);
                CrashPoint("map-table");
                Install(m);
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
            Install(m);
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
    }
}
