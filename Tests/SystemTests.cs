using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace MailPanel.Tests;

public class SystemTests
{
    /// <summary>Fake postconf and dovecot binaries in a temp bin dir; the probe looks only there.</summary>
    static string FakeBinaries(TestServer s, bool postfix = true, bool dovecot = true)
    {
        var bin = Path.Combine(s.Dir, "bin");
        Directory.CreateDirectory(bin);
        void Script(string name, string body)
        {
            var path = Path.Combine(bin, name);
            File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (postfix) Script("postconf", """[ "$*" = "-d -h mail_version" ] && echo 3.8.1 || exit 1""");
        if (dovecot) Script("dovecot", """[ "$1" = "--version" ] && echo '2.3.21 (47349e2482)' || exit 1""");
        var services = s.Get<Services>();
        services.SearchPath = bin;
        services.Forget();
        return bin;
    }

    static void PidFile(TestServer s, string path, int pid)
    {
        var file = s.Config.HostPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, $"{pid,10}\n"); // Postfix's format: right-aligned in 10 columns
    }

    const string PostfixPid = "/var/spool/postfix/pid/master.pid";
    const string DovecotPid = "/run/dovecot/master.pid";
    const int DeadPid = int.MaxValue - 1; // above any pid_max: kill(pid, 0) says ESRCH

    static async Task<Response> Health(TestServer s)
    {
        using var anonymous = s.Anonymous();
        return await TestServer.Send(anonymous, HttpMethod.Get, "/health");
    }

    [Fact]
    public async Task AboutReturnsTheBuildConstantsAndHostVersions()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s);
        Directory.CreateDirectory(s.Config.HostPath("/etc"));
        File.WriteAllText(s.Config.HostPath("/etc/os-release"), "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n");
        var r = await s.Get("/api/v1/system/about");
        r.AssertStatus(HttpStatusCode.OK);
        var j = r.Json.AsObject();
        Assert.Equal(["app", "build", "copyright", "dovecot", "hostname", "os", "postfix", "version", "website"], j.Select(p => p.Key).Order());
        Assert.Equal("BackendSide MailPanel", (string?)j["app"]);
        Assert.Equal("0.1.0", (string?)j["version"]);
        Assert.Equal("056", (string?)j["build"]);
        Assert.Equal("© 2025 backendside.com", (string?)j["copyright"]);
        Assert.Equal("https://backendside.com", (string?)j["website"]);
        Assert.Equal(Dns.GetHostName(), (string?)j["hostname"]);
        Assert.Equal("Ubuntu 24.04.1 LTS", (string?)j["os"]);
        Assert.Equal("3.8.1", (string?)j["postfix"]);
        Assert.Equal("2.3.21", (string?)j["dovecot"]);
    }

    [Fact]
    public async Task AboutSaysNotInstalledWhenTheBinariesAreMissing()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s, postfix: false, dovecot: false);
        var j = (await s.Get("/api/v1/system/about")).Json;
        Assert.Equal("not installed", (string?)j["postfix"]);
        Assert.Equal("not installed", (string?)j["dovecot"]);
        Assert.False(string.IsNullOrEmpty((string?)j["os"])); // falls back to the real /etc/os-release
    }

    [Fact]
    public async Task AboutNeedsCredentials()
    {
        await using var s = await TestServer.Start();
        using var anonymous = s.Anonymous();
        (await TestServer.Send(anonymous, HttpMethod.Get, "/api/v1/system/about")).AssertError(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }

    [Fact]
    public async Task HealthIsOkWhenEverythingRuns()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s);
        PidFile(s, PostfixPid, Environment.ProcessId);
        PidFile(s, DovecotPid, Environment.ProcessId);
        var r = await Health(s); // unauthenticated
        r.AssertStatus(HttpStatusCode.OK);
        var j = r.Json.AsObject();
        Assert.Equal(["build", "checks", "status", "version"], j.Select(p => p.Key).Order());
        Assert.Equal("ok", (string?)j["status"]);
        Assert.Equal("0.1.0", (string?)j["version"]);
        Assert.Equal("056", (string?)j["build"]);
        var checks = j["checks"]!.AsObject();
        Assert.Equal(["database", "dovecot", "maildir", "postfix"], checks.Select(p => p.Key).Order());
        foreach (var name in new[] { "database", "postfix", "dovecot" })
            Assert.Equal("""{"status":"ok"}""", checks[name]!.ToJsonString());
        var maildir = checks["maildir"]!.AsObject();
        var expected = SystemApi.MaildirStatus(HostInfo.Disk(s.Config.VmailDir)!.Value.Free, HostInfo.Disk(s.Config.VmailDir)!.Value.Total);
        Assert.Equal(expected, (string?)maildir["status"]);
        Assert.Matches(@"^\d+(\.\d)?[BKMGTP]$", (string?)maildir["free_space"]);
    }

    [Fact]
    public async Task HealthTreatsAbsentDaemonsAsNotInstalledNotAsFailure()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s, postfix: false, dovecot: false);
        var r = await Health(s);
        r.AssertStatus(HttpStatusCode.OK);
        Assert.Equal("""{"status":"not_installed"}""", r.Json["checks"]!["postfix"]!.ToJsonString());
        Assert.Equal("""{"status":"not_installed"}""", r.Json["checks"]!["dovecot"]!.ToJsonString());
    }

    [Theory]
    [InlineData(true)]  // pid file names a dead process
    [InlineData(false)] // no pid file at all
    public async Task HealthIs503WhenAnInstalledDaemonIsDown(bool stalePid)
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s);
        PidFile(s, DovecotPid, Environment.ProcessId);
        if (stalePid) PidFile(s, PostfixPid, DeadPid);
        var r = await Health(s);
        r.AssertStatus(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("error", (string?)r.Json["status"]);
        Assert.Equal("down", (string?)r.Json["checks"]!["postfix"]!["status"]);
        Assert.Equal("ok", (string?)r.Json["checks"]!["dovecot"]!["status"]);
        Assert.Equal("ok", (string?)r.Json["checks"]!["database"]!["status"]);
    }

    [Fact]
    public async Task HealthIs503WhenTheDatabaseIsGone()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s, postfix: false, dovecot: false);
        var data = s.Config.DataDir;
        Directory.Move(data, data + ".moved"); // the directory is gone: SQLite cannot reopen the file
        SqliteConnection.ClearAllPools();      // pooled connections would still hold the old inode
        try
        {
            var r = await Health(s);
            r.AssertStatus(HttpStatusCode.ServiceUnavailable);
            Assert.Equal("error", (string?)r.Json["status"]);
            Assert.Equal("error", (string?)r.Json["checks"]!["database"]!["status"]);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Move(data + ".moved", data);
        }
        (await Health(s)).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task HealthIs503WhenTheMaildirRootIsMissing()
    {
        await using var s = await TestServer.Start();
        FakeBinaries(s, postfix: false, dovecot: false);
        Assert.True(Directory.Exists(s.Config.VmailDir)); // created at start
        Directory.Delete(s.Config.VmailDir, recursive: true);
        var r = await Health(s);
        r.AssertStatus(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("error", (string?)r.Json["checks"]!["maildir"]!["status"]);
        Assert.Null(r.Json["checks"]!["maildir"]!["free_space"]);
    }

    [Theory]
    [InlineData(500L << 30, 1000L << 30, "ok")]
    [InlineData(40L << 30, 1000L << 30, "warn")]    // under 5 %
    [InlineData((1L << 30) - 1, 2L << 30, "warn")]  // under 1 GiB
    [InlineData(2L << 30, 4L << 30, "ok")]
    public void MaildirWarnsOnLowFreeSpace(long free, long total, string status) =>
        Assert.Equal(status, SystemApi.MaildirStatus(free, total));

    [Fact]
    public async Task HealthIsNeverRateLimited()
    {
        await using var s = await TestServer.Start(extra: "RATE_LIMIT_API_PER_MIN=1");
        FakeBinaries(s, postfix: false, dovecot: false);
        for (var i = 0; i < 5; i++) Assert.NotEqual(HttpStatusCode.TooManyRequests, (await Health(s)).Status);
    }

    [Fact]
    public async Task ProcessRunnerCapturesOutputAndExitCodeAndTimesOut()
    {
        var ok = await Run.Exec("sh", ["-c", "echo out; echo err >&2; echo \"$PATH\"; exit 3"]);
        Assert.Equal(3, ok.ExitCode);
        Assert.Equal($"out\n{Run.Path}\n", ok.Stdout);
        Assert.Equal("err\n", ok.Stderr);
        Assert.False(ok.Ok);
        var missing = await Run.Exec("no-such-binary-here", []);
        Assert.True(missing.NotFound);
        var slow = await Run.Exec("sleep", ["10"], TimeSpan.FromMilliseconds(200));
        Assert.True(slow.TimedOut);
        var literal = await Run.Exec("echo", ["$HOME; rm -rf /"]); // no shell: the argument arrives verbatim
        Assert.Equal("$HOME; rm -rf /\n", literal.Stdout);
    }
}
