using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace MailPanel.Tests;

/// <summary>
/// The published Native AOT binary, run as the operator runs it. MAILPANEL_BINARY points at an
/// already published binary (.ci/run publishes once); otherwise the test publishes to OUT/.
/// </summary>
public class NativeBinaryTests
{
    static readonly Lazy<Task<string>> Binary = new(Publish);

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "mailpanel.csproj"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("mailpanel.csproj not found above the test binary");
    }

    internal static Task<string> PublishedBinary() => Binary.Value;

    static async Task<string> Publish()
    {
        if (Environment.GetEnvironmentVariable("MAILPANEL_BINARY") is { Length: > 0 } given && File.Exists(given)) return given;
        var root = RepoRoot();
        var outDir = Path.Combine(root, "OUT");
        var (code, output) = await Run("dotnet", ["publish", Path.Combine(root, "mailpanel.csproj"), "-c", "Release", "-o", outDir], timeoutSeconds: 600);
        Assert.True(code == 0, "dotnet publish failed:\n" + output);
        return Path.Combine(outDir, "mailpanel");
    }

    static async Task<(int Code, string Output)> Run(string file, string[] args, string? stdin = null, int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task PublishedBinaryIsOneSelfContainedFile()
    {
        var binary = await PublishedBinary();
        var (code, output) = await Run("ldd", [binary]);
        Assert.Equal(0, code);
        Assert.DoesNotContain("sqlite", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("not found", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(binary)!, "libe_sqlite3.so")));
    }

    [Fact]
    public async Task HashPasswordPrintsADovecotBcryptHash()
    {
        var (code, output) = await Run(await PublishedBinary(), ["hash-password"], stdin: "S3cret-pass\n");
        Assert.Equal(0, code);
        var hash = output.Trim();
        Assert.StartsWith("{BLF-CRYPT}$2b$", hash, StringComparison.Ordinal);
        Assert.True(Passwords.Verify("S3cret-pass", hash));
    }

    [Fact]
    public async Task BadOrMissingConfigExitsNonZeroWithOneLine()
    {
        var binary = await PublishedBinary();
        var dir = Directory.CreateTempSubdirectory("mailpanel-badconfig-").FullName;
        try
        {
            var missing = await Run(binary, ["--config", Path.Combine(dir, "nope.env")]);
            Assert.NotEqual(0, missing.Code);
            Assert.Single(missing.Output.Trim().Split('\n'));
            var path = Path.Combine(dir, "config.env");
            await File.WriteAllTextAsync(path, "API_KEY=k\nTYPO_KEY=1\n");
            var typo = await Run(binary, ["--config", path]);
            Assert.NotEqual(0, typo.Code);
            Assert.Contains("TYPO_KEY", typo.Output, StringComparison.Ordinal);
            Assert.Single(typo.Output.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task NativeDaemonAnswersEveryRouteAndStopsCleanlyOnSigterm()
    {
        var binary = await PublishedBinary();
        var dir = Directory.CreateTempSubdirectory("mailpanel-native-").FullName;
        var port = FreePort();
        const string key = "native-test-key";
        var config = Path.Combine(dir, "config.env");
        await File.WriteAllTextAsync(config, $"""
            LISTEN=127.0.0.1:{port}
            API_KEY={key}
            ADMIN_PASSWORD_HASH={Passwords.Hash("pw-native")}
            JWT_SECRET=native-test-secret-0123456789abcdef
            DATA_DIR={dir}/data
            VMAIL_DIR={dir}/vmail
            SYSROOT={dir}/root
            RATE_LIMIT_API_PER_MIN=100000
            """);
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["MAILPANEL_CONFIG"] = config; // the env route to the config, no --config
        using var daemon = Process.Start(psi)!;
        var log = daemon.StandardError.ReadToEndAsync();
        _ = daemon.StandardOutput.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            http.DefaultRequestHeaders.Add("X-API-Key", key);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                try
                {
                    var h = await http.GetAsync("/health");
                    if (h.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable) break;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline) { }
                // Not Assert.False(daemon.HasExited, "..." + await log): the message is built first, and awaiting
                // the log of a running daemon waits for it to exit, so a slow start hung the test for good.
                if (daemon.HasExited) Assert.Fail("daemon exited: " + await log);
                await Task.Delay(50);
            }

            async Task<Response> Call(string method, string path, string? json = null, HttpStatusCode? expect = null)
            {
                var r = await TestServer.Send(http, new HttpMethod(method), path, json);
                Assert.True(r.Code < 500, $"{method} {path} -> {r}");
                if (expect is { } e) Assert.True(r.Status == e, $"{method} {path}: expected {(int)e}, got {r}");
                Assert.NotNull(JsonNode.Parse(r.Body)); // every answer is JSON
                return r;
            }

            var login = await Call("POST", "/auth/login", """{"username":"admin","password":"pw-native"}""", HttpStatusCode.OK);
            using var verify = new HttpRequestMessage(HttpMethod.Get, "/auth/verify");
            verify.Headers.Authorization = new("Bearer", login.Json["token"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(verify)).StatusCode);

            var domain = (await Call("POST", "/api/v1/domains", """{"name":"example.com"}""", HttpStatusCode.Created)).Json["id"]!.GetValue<long>();
            await Call("GET", "/api/v1/domains", expect: HttpStatusCode.OK);
            await Call("GET", $"/api/v1/domains/{domain}", expect: HttpStatusCode.OK);
            await Call("PATCH", $"/api/v1/domains/{domain}", """{"active":true}""", HttpStatusCode.OK);
            var mailbox = (await Call("POST", "/api/v1/mailboxes", $$"""{"domain_id":{{domain}},"username":"alice","password":"S3cret-pass","quota":1073741824}""", HttpStatusCode.Created)).Json["id"]!.GetValue<long>();
            await Call("GET", "/api/v1/mailboxes", expect: HttpStatusCode.OK);
            await Call("GET", $"/api/v1/mailboxes/{mailbox}", expect: HttpStatusCode.OK);
            await Call("PATCH", $"/api/v1/mailboxes/{mailbox}", """{"quota":0}""", HttpStatusCode.OK);
            await Call("PATCH", $"/api/v1/mailboxes/{mailbox}/password", """{"password":"new-strong-password"}""", HttpStatusCode.OK);
            var alias = (await Call("POST", "/api/v1/aliases", """{"source":"info@example.com","destination":"alice@example.com"}""", HttpStatusCode.Created)).Json["id"]!.GetValue<long>();
            await Call("GET", "/api/v1/aliases", expect: HttpStatusCode.OK);
            await Call("GET", $"/api/v1/aliases/{alias}", expect: HttpStatusCode.OK);
            foreach (var tier in new[] { "global", "domain-defaults", "mailbox-defaults", "antispam" })
            {
                var current = await Call("GET", $"/api/v1/config/{tier}", expect: HttpStatusCode.OK);
                await Call("PUT", $"/api/v1/config/{tier}", current.Body, HttpStatusCode.OK);
            }
            await Call("GET", $"/api/v1/domains/{domain}/overrides", expect: HttpStatusCode.OK);
            await Call("PUT", $"/api/v1/domains/{domain}/overrides", """{"dmarc_policy":"reject","require_tls_inbound":true}""", HttpStatusCode.OK);
            await Call("GET", $"/api/v1/domains/{domain}/effective", expect: HttpStatusCode.OK);
            await Call("GET", $"/api/v1/mailboxes/{mailbox}/overrides", expect: HttpStatusCode.OK);
            await Call("PUT", $"/api/v1/mailboxes/{mailbox}/overrides", """{"max_send_per_day":5000,"require_tls_client":true}""", HttpStatusCode.OK);
            await Call("GET", $"/api/v1/mailboxes/{mailbox}/effective", expect: HttpStatusCode.OK);
            var entry = (await Call("POST", "/api/v1/antispam/whitelist", """{"entry_type":"domain","value":"trusted-partner.com","note":"newsletter"}""", HttpStatusCode.OK)).Json["id"]!.GetValue<long>();
            await Call("GET", "/api/v1/antispam/whitelist", expect: HttpStatusCode.OK);
            await Call("DELETE", $"/api/v1/antispam/whitelist/{entry}", expect: HttpStatusCode.OK);
            var dkim = await Call("POST", "/api/v1/dkim/generate", """{"domain":"example.com","selector":"default"}""", HttpStatusCode.Created);
            Assert.StartsWith("default._domainkey\tIN\tTXT\t", dkim.Json["public_key"]!.GetValue<string>(), StringComparison.Ordinal);
            await Call("GET", "/api/v1/dkim/list", expect: HttpStatusCode.OK);
            await Call("GET", "/api/v1/dkim?domain=example.com&selector=default", expect: HttpStatusCode.OK);
            var token = (await Call("POST", "/api/v1/admin/tokens", """{"name":"ci-deploy"}""", HttpStatusCode.Created)).Json["id"]!.GetValue<long>();
            await Call("GET", "/api/v1/admin/tokens", expect: HttpStatusCode.OK);
            await Call("POST", $"/api/v1/admin/tokens/{token}/rotate", expect: HttpStatusCode.OK);
            await Call("DELETE", $"/api/v1/admin/tokens/{token}", expect: HttpStatusCode.OK);
            var settings = await Call("GET", "/api/v1/security/settings", expect: HttpStatusCode.OK);
            await Call("PUT", "/api/v1/security/settings", settings.Body, HttpStatusCode.OK);
            await Call("GET", "/api/v1/system/about", expect: HttpStatusCode.OK);
            var backup = await Call("GET", "/api/v1/backup", expect: HttpStatusCode.OK);
            var restored = await Call("POST", "/api/v1/backup/restore", backup.Body, HttpStatusCode.OK);
            Assert.Equal(1, restored.Json["mailboxes"]!.GetValue<int>());
            await Call("DELETE", "/api/v1/dkim?domain=example.com&selector=default", expect: HttpStatusCode.OK);
            await Call("DELETE", $"/api/v1/aliases/{alias}", expect: HttpStatusCode.OK);
            await Call("DELETE", $"/api/v1/mailboxes/{mailbox}", expect: HttpStatusCode.OK);
            await Call("DELETE", $"/api/v1/domains/{domain}", expect: HttpStatusCode.OK);
            await Call("GET", "/api/v1/nope", expect: HttpStatusCode.NotFound);
            await Call("POST", "/api/v1/domains", "{bad json", HttpStatusCode.BadRequest);

            Assert.True(Posix.Kill(daemon.Id, 15), "SIGTERM");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await daemon.WaitForExitAsync(cts.Token);
            Assert.True(daemon.ExitCode == 0, "exit code " + daemon.ExitCode + ": " + await log);
        }
        finally
        {
            if (!daemon.HasExited) daemon.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }
}
