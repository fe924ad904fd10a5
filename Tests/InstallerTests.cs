using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace MailPanel.Tests;

/// <summary>
/// The one-line install (install.sh + mailpanel.service), proven in a fresh Debian 12 root by
/// Tests/installer/proof.sh: debootstrap (cached), chroot, a network namespace of its own, then
/// /health, admin login, a mailbox receiving mail over SMTP and read back over IMAP, a re-run that
/// changes nothing, --uninstall and --purge. Tests/installer/systemd-proof.sh boots the same root
/// with systemd as PID 1 (systemd-nspawn) for the systemd branch and the hardened unit. Its own
/// collection, run alone after the parallel ones: apt and dpkg on 2 cores would otherwise slow the
/// other tests past their timeouts.
/// </summary>
[Collection(InstallerCollection.Name)]
public class InstallerTests(ITestOutputHelper output)
{
    static string Script(string name) => Path.Combine(NativeBinaryTests.RepoRoot(), name);

    [Fact]
    public async Task InstallScriptAndProofAreShellcheckClean()
    {
        if (!File.Exists("/usr/bin/shellcheck"))
        {
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "CI must install shellcheck (.ci/run)");
            output.WriteLine("shellcheck is not installed; .ci/run installs it (apt-get install shellcheck)");
            return;
        }
        var (code, log) = await Run("shellcheck", ["-x", Script("install.sh"), Script("Tests/installer/proof.sh"), Script("Tests/installer/systemd-proof.sh"), Script("Tests/installer/lib.sh")], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, log);
    }

    [Fact]
    public async Task InstallScriptListsTheMailStackPackages()
    {
        var (code, log) = await Run("bash", [Script("install.sh"), "--list-packages"], TimeSpan.FromSeconds(30));
        Assert.Equal(0, code);
        var packages = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var required in new[] { "postfix", "postfix-lmdb", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "dovecot-sieve", "opendkim", "opendkim-tools", "opendmarc", "certbot" })
            Assert.Contains(required, packages);
    }

    [Fact]
    public async Task InstallScriptRejectsUnknownArguments()
    {
        var (code, log) = await Run("bash", [Script("install.sh"), "--frobnicate"], TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, code);
        Assert.Contains("unknown argument: --frobnicate", log, StringComparison.Ordinal);
    }

    [InstallerProofFact]
    public async Task OneLineInstallInAFreshDebianRootServesTheApiAndDeliversMail()
    {
        var binary = await NativeBinaryTests.PublishedBinary();
        var clock = Stopwatch.StartNew();
        var (code, log) = await Run("bash", [Script("Tests/installer/proof.sh"), binary, NativeBinaryTests.RepoRoot()], TimeSpan.FromMinutes(20));
        output.WriteLine(log);
        output.WriteLine($"proof.sh exit {code} after {clock.Elapsed.TotalSeconds:0} s");
        Assert.True(code == 0, "installer proof failed:\n" + Tail(log, 80));
        Assert.Contains("PROOF PASSED", log, StringComparison.Ordinal);
    }

    [InstallerProofFact(Needs = "/usr/bin/systemd-nspawn")]
    public async Task OneLineInstallUnderSystemdRunsTheHardenedUnitAndSurvivesAReboot()
    {
        var binary = await NativeBinaryTests.PublishedBinary();
        var clock = Stopwatch.StartNew();
        var (code, log) = await Run("bash", [Script("Tests/installer/systemd-proof.sh"), binary, NativeBinaryTests.RepoRoot()], TimeSpan.FromMinutes(10));
        output.WriteLine(log);
        output.WriteLine($"systemd-proof.sh exit {code} after {clock.Elapsed.TotalSeconds:0} s");
        Assert.True(code == 0, "installer proof under systemd failed:\n" + Tail(log, 80));
        Assert.Contains("PROOF PASSED (systemd as PID 1)", log, StringComparison.Ordinal);
    }

    static string Tail(string text, int lines) => string.Join('\n', text.Split('\n').TakeLast(lines));

    /// <summary>Runs a command with stdout and stderr merged; on timeout SIGTERM lets proof.sh clean up first.</summary>
    static async Task<(int Code, string Output)> Run(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var log = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Posix.Kill(p.Id, 15);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try { await p.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { p.Kill(entireProcessTree: true); }
            lock (log) log.AppendLine($"timed out after {timeout.TotalMinutes} min");
            return (-1, log.ToString());
        }
        p.WaitForExit(); // drains the async readers
        lock (log) return (p.ExitCode, log.ToString());
    }
}

/// <summary>
/// The proof needs root (chroot, mounts, a network namespace) and debootstrap. Elsewhere it is
/// skipped with the reason in the test output; under CI=true it always runs, so CI cannot skip it.
/// </summary>
public sealed class InstallerProofFactAttribute : FactAttribute
{
    public InstallerProofFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") == "true") return;
        if (!Posix.IsRoot) Skip = "installer proof skipped: needs root (chroot, mounts, network namespace); CI=true runs it";
        else if (!File.Exists("/usr/sbin/debootstrap")) Skip = "installer proof skipped: debootstrap is not installed (apt-get install debootstrap); CI=true runs it";
    }

    /// <summary>A further program the proof needs; without it the proof is skipped, except under CI=true.</summary>
    public string? Needs
    {
        get => needs;
        init
        {
            needs = value;
            if (Skip is null && value is not null && !File.Exists(value) && Environment.GetEnvironmentVariable("CI") != "true")
                Skip = $"installer proof skipped: {value} is not installed (.ci/run installs it); CI=true runs it";
        }
    }

    readonly string? needs;
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InstallerCollection
{
    public const string Name = "installer proof (runs alone)";
}
