using System.Net;

namespace MailPanel.Tests;

public class DaemonStatusTests
{
    const int DeadPid = int.MaxValue - 1; // above any pid_max: kill(pid, 0) says ESRCH

    /// <summary>Fake postconf and dovecot binaries, so both daemons count as installed.</summary>
    static string Installed(TestServer s)
    {
        var bin = FakeTools.Bin(s);
        FakeTools.Script(bin, "postconf", "echo 3.7.11");
        FakeTools.Script(bin, "dovecot", "echo '2.3.19.1 (9b53102964)'");
        return bin;
    }

    static void PidFile(string file, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
    }

    [Theory]
    [InlineData("postfix")]
    [InlineData("dovecot")]
    public async Task RunningWhenTheMasterPidFileUnderSysrootNamesALiveProcess(string name)
    {
        await using var s = await TestServer.Start();
        Installed(s);
        var paths = s.Get<MailPaths>();
        Assert.Equal(Path.Combine(s.Config.SysRoot, name == "postfix" ? "var/spool/postfix/pid/master.pid" : "run/dovecot/master.pid"),
            name == "postfix" ? paths.PostfixPidFile : paths.DovecotPidFile);
        PidFile(name == "postfix" ? paths.PostfixPidFile : paths.DovecotPidFile,
            name == "postfix" ? $"{Environment.ProcessId,10}\n" : $"{Environment.ProcessId}\n");
        var r = await s.Get($"/api/v1/{name}/status");
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal($$"""{"name":"{{name}}","status":"running","message":""}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task RunningWhileTheMasterHoldsItsPidFileLocked()
    {
        // The Postfix master keeps master.pid locked; a plain FileStream read fails on such a file.
        await using var s = await TestServer.Start();
        Installed(s);
        var file = s.Get<MailPaths>().PostfixPidFile;
        PidFile(file, $"{Environment.ProcessId,10}\n");
        using var locked = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None); // flock(LOCK_EX)
        Assert.ThrowsAny<IOException>(() => File.ReadAllText(file));
        var r = await s.Get("/api/v1/postfix/status");
        Assert.Equal("""{"name":"postfix","status":"running","message":""}""", r.Json.ToJsonString());
    }

    [Fact]
    public async Task StoppedWithThePidFileFindingWhenNotRunning()
    {
        await using var s = await TestServer.Start();
        Installed(s);
        var paths = s.Get<MailPaths>();
        var r = await s.Get("/api/v1/postfix/status");
        Assert.Equal("stopped", (string?)r.Json["status"]);
        Assert.Equal($"no pid file {paths.PostfixPidFile}", (string?)r.Json["message"]);

        PidFile(paths.DovecotPidFile, $"{DeadPid}\n");
        r = await s.Get("/api/v1/dovecot/status");
        Assert.Equal("stopped", (string?)r.Json["status"]);
        Assert.Contains($"master pid {DeadPid} is not running", (string?)r.Json["message"]);
    }

    [Fact]
    public async Task UnknownWhenThePidFileHoldsNoPid()
    {
        await using var s = await TestServer.Start();
        Installed(s);
        PidFile(s.Get<MailPaths>().DovecotPidFile, "garbage\n");
        var r = await s.Get("/api/v1/dovecot/status");
        Assert.Equal("unknown", (string?)r.Json["status"]);
        Assert.Contains("holds no pid", (string?)r.Json["message"]);
    }

    [Fact]
    public async Task StoppedWhenNotInstalled()
    {
        await using var s = await TestServer.Start();
        FakeTools.Bin(s);
        PidFile(s.Get<MailPaths>().PostfixPidFile, $"{Environment.ProcessId,10}\n"); // a leftover pid file does not make it installed
        var r = await s.Get("/api/v1/postfix/status");
        Assert.Equal("""{"name":"postfix","status":"stopped","message":"postfix is not installed"}""", r.Json.ToJsonString());
    }

    [Theory]
    [InlineData("active", "running", "")]
    [InlineData("inactive", "stopped", "inactive")]
    [InlineData("failed", "stopped", "failed")]
    [InlineData("activating", "stopped", "activating")]
    public async Task UnderSystemdTheStatusIsSystemctlIsActive(string answer, string status, string message)
    {
        await using var s = await TestServer.Start();
        var bin = Installed(s);
        Directory.CreateDirectory(s.Get<MailPaths>().SystemdRunDir);
        FakeTools.Script(bin, "systemctl", $"echo {answer}\n[ {answer} = active ]");
        var r = await s.Get("/api/v1/postfix/status");
        Assert.Equal($$"""{"name":"postfix","status":"{{status}}","message":"{{message}}"}""", r.Json.ToJsonString());
        Assert.Equal(["is-active postfix"], FakeTools.Calls(bin, "systemctl"));
    }

    [Fact]
    public async Task UnknownUnderSystemdWhenSystemctlIsMissing()
    {
        await using var s = await TestServer.Start();
        Installed(s);
        Directory.CreateDirectory(s.Get<MailPaths>().SystemdRunDir);
        var r = await s.Get("/api/v1/dovecot/status");
        Assert.Equal("unknown", (string?)r.Json["status"]);
        Assert.Equal("systemctl: not found on PATH", (string?)r.Json["message"]);
    }

    [Fact]
    public async Task StatusNeedsCredentials()
    {
        await using var s = await TestServer.Start();
        using var anonymous = s.Anonymous();
        foreach (var name in new[] { "postfix", "dovecot" })
            (await TestServer.Send(anonymous, HttpMethod.Get, $"/api/v1/{name}/status")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }
}
