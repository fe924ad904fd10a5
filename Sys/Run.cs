using System.Diagnostics;

namespace MailPanel.Sys;

/// <summary>What a finished (or failed-to-start) process left behind.</summary>
internal sealed record RunResult(int ExitCode, string Stdout, string Stderr, bool TimedOut, bool NotFound)
{
    public bool Ok => ExitCode == 0 && !TimedOut && !NotFound;

    /// <summary>One line for logs and error details: the exit code and the trimmed stderr (else stdout).</summary>
    public string Describe(string program) =>
        NotFound ? $"{program}: not found on PATH"
        : TimedOut ? $"{program}: timed out"
        : $"{program}: exit code {ExitCode}" + (Stderr.Trim() is { Length: > 0 } e ? $": {e}" : Stdout.Trim() is { Length: > 0 } o ? $": {o}" : "");
}

/// <summary>
/// THE process runner: an argument list (never a shell string, so nothing is ever re-parsed), a
/// fixed PATH (the daemon's own environment cannot redirect which postconf runs), a timeout that
/// kills the whole process tree, and captured stdout/stderr. Mail-in-a-Box's utils.shell() is the model.
/// </summary>
internal static class Run
{
    public const string Path = "/usr/sbin:/usr/bin:/sbin:/bin";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The absolute path of <paramref name="program"/> on <paramref name="searchPath"/> (the fixed PATH
    /// unless a test sandboxes it), or null. A name containing '/' is checked as given.
    /// </summary>
    public static string? Which(string program, string searchPath = Path)
    {
        if (program.Contains('/', StringComparison.Ordinal)) return IsExecutable(program) ? program : null;
        foreach (var dir in searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, program);
            if (IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    static bool IsExecutable(string file) =>
        File.Exists(file) && (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/>; never throws for a missing binary, a failure or a timeout.</summary>
    public static async Task<RunResult> Exec(string program, IEnumerable<string> args, TimeSpan? timeout = null,
        string? stdin = null, CancellationToken cancel = default, byte[]? input = null)
    {
        if (Which(program) is not { } file) return new RunResult(127, "", "", false, true);
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Clear();
        info.Environment["PATH"] = Path;
        info.Environment["LC_ALL"] = "C"; // stable, parseable output

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return new RunResult(127, "", "", false, true);
        }
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
            if (input is not null) await process.StandardInput.BaseStream.WriteAsync(input, cancel); // bytes as they are (a message may be 8-bit)
            process.StandardInput.Close();
        }
        catch (IOException) { } // the program exited without reading its input

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout ?? DefaultTimeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try { process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { } // already gone
            await process.WaitForExitAsync(CancellationToken.None);
        }
        var result = new RunResult(timedOut ? -1 : process.ExitCode, await stdout, await stderr, timedOut, false);
        cancel.ThrowIfCancellationRequested();
        return result;
    }
}
