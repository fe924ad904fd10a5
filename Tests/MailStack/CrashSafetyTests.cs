using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace MailPanel.Tests.MailStack;

/// <summary>
/// Issue 3, scenario 7 (second half): kill -9 of the daemon during a reconcile leaves every managed
/// file either old or new, and the next reconcile converges. Drives the published native binary.
/// </summary>
public class CrashSafetyTests
{
    sealed class Daemon(Process process, HttpClient http) : IAsyncDisposable
    {
        public Process Process => process;
        public HttpClient Http => http;

        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited) process.Kill();
            await process.WaitForExitAsync();
            http.Dispose();
            process.Dispose();
        }
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    static async Task<Daemon> Start(string binary, string config, int port)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = false, RedirectStandardError = false };
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        var process = Process.Start(psi)!;
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Add("X-API-Key", "crash-test-key");
        for (var i = 0; i < 400; i++)
        {
            try
            {
                await http.GetAsync("/health");
                return new Daemon(process, http);
            }
            catch (HttpRequestException)
            {
                Assert.False(process.HasExited, "daemon exited at start");
                await Task.Delay(50);
            }
        }
        throw new TimeoutException("daemon did not answer /health");
    }

    /// <summary>Every managed file under SYSROOT/etc, by path (temp files of an interrupted write excluded).</summary>
    static Dictionary<string, byte[]> Files(string sysroot)
    {
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var dir in new[] { "etc/postfix", "etc/dovecot" })
        {
            var full = Path.Combine(sysroot, dir);
            if (!Directory.Exists(full)) continue;
            foreach (var f in Directory.GetFiles(full))
            {
                var name = Path.GetFileName(f);
                if (name.StartsWith('.') || name.EndsWith(".lmdb", StringComparison.Ordinal) || name.EndsWith("-lock", StringComparison.Ordinal)) continue;
                map[f] = File.ReadAllBytes(f);
            }
        }
        return map;
    }

    static async Task<JsonNode> Reconcile(Daemon d)
    {
        var r = await d.Http.PostAsync("/api/v1/system/reconcile", null);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!;
    }

    /// <summary>The keys in each map's lmdb table are exactly the keys of its source file.</summary>
    static async Task AssertTablesMatchSources(string sysroot, string when)
    {
        foreach (var map in new[] { "vmailbox", "vdomains" })
        {
            var source = Path.Combine(sysroot, "etc/postfix", map);
            var dump = await MailPanel.Run.Exec("postmap", ["-c", Path.Combine(sysroot, "etc/postfix"), "-s", "lmdb:" + source], TimeSpan.FromSeconds(60));
            Assert.True(dump.Ok, dump.Describe("postmap -s"));
            var keys = (await File.ReadAllLinesAsync(source)).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split([' ', '\t'], 2)[0]).Order(StringComparer.Ordinal).ToList();
            var tableKeys = dump.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split([' ', '\t'], 2)[0]).Order(StringComparer.Ordinal).ToList();
            Assert.True(keys.SequenceEqual(tableKeys), $"{map}: table and source disagree {when} ({tableKeys.Count} table keys, {keys.Count} source keys)");
        }
    }

    [MailStackFact]
    public async Task KillNineDuringAReconcileLeavesEachFileOldOrNewAndTheNextReconcileConverges()
    {
        var binary = await NativeBinaryTests.PublishedBinary();
        var dir = Directory.CreateTempSubdirectory("mailpanel-crash-").FullName;
        var sysroot = Path.Combine(dir, "root");
        var port = FreePort();
        var config = Path.Combine(dir, "config.env");
        await File.WriteAllTextAsync(config, $"""
            LISTEN=127.0.0.1:{port}
            API_KEY=crash-test-key
            ADMIN_PASSWORD_HASH={Passwords.Hash("pw")}
            JWT_SECRET=crash-test-secret-0123456789abcdef0123
            DATA_DIR={dir}/data
            VMAIL_DIR={dir}/vmail
            SYSROOT={sysroot}
            RATE_LIMIT_API_PER_MIN=1000000
            MAIL_HOSTNAME=mail.crash.test
            SMTP_LISTEN=127.0.0.1:{FreePort()}
            SUBMISSION_LISTEN=127.0.0.1:{FreePort()}
            IMAP_LISTEN=127.0.0.1:{FreePort()}
            POP3_LISTEN=127.0.0.1:{FreePort()}
            """);
        try
        {
            // State A: one domain and mailbox, fully applied.
            var d = await Start(binary, config, port);
            (await d.Http.PostAsync("/api/v1/domains", new StringContent("""{"name":"a.example"}"""))).EnsureSuccessStatusCode();
            (await d.Http.PostAsync("/api/v1/mailboxes", new StringContent("""{"domain_id":1,"username":"alice","password":"S3cret-pass"}"""))).EnsureSuccessStatusCode();
            await Reconcile(d);
            var a = Files(sysroot);
            Assert.Contains(a.Keys, k => k.EndsWith("/main.cf", StringComparison.Ordinal));

            // State B: a large data set (restore), so an apply takes long enough to be interrupted.
            var doc = JsonNode.Parse(await d.Http.GetStringAsync("/api/v1/backup"))!.AsObject();
            var hash = doc["mailboxes"]![0]!["password_hash"]!.GetValue<string>();
            var domains = new JsonArray();
            var mailboxes = new JsonArray();
            for (var i = 0; i < 3000; i++)
            {
                domains.Add(new JsonObject { ["id"] = i + 1, ["name"] = $"d{i}.example", ["active"] = true, ["outgoing_ip"] = "", ["created_at"] = "2026-05-02T03:11:42Z" });
                for (var j = 0; j < 10; j++)
                    mailboxes.Add(new JsonObject { ["id"] = i * 10 + j + 1, ["domain_id"] = i + 1, ["username"] = $"u{j}", ["password_hash"] = hash, ["quota"] = 0, ["active"] = true, ["created_at"] = "2026-05-02T03:11:42Z" });
            }
            doc["domains"] = domains;
            doc["mailboxes"] = mailboxes;
            doc["aliases"] = new JsonArray();
            doc["domain_overrides"] = new JsonArray();
            doc["mailbox_overrides"] = new JsonArray();

            // Kill -9 at points spread over the whole apply that follows the restore. Right after each
            // kill every managed file is byte-equal to its version before or after; then a restarted
            // daemon's reconcile of the same data converges: each map's table matches its source, and
            // one more reconcile has nothing to do.
            var crashes = new List<(Dictionary<string, byte[]> Before, Dictionary<string, byte[]> After)>();
            Dictionary<string, byte[]>? b = null;
            foreach (var delayMs in Enumerable.Range(0, 12).Select(i => i * 250))
            {
                var before = Files(sysroot);
                (await d.Http.PostAsync("/api/v1/backup/restore", new StringContent(doc.ToJsonString()))).EnsureSuccessStatusCode();
                var reconcile = d.Http.PostAsync("/api/v1/system/reconcile", null);
                await Task.Delay(delayMs);
                Assert.True(Posix.Kill(d.Process.Id, 9), "SIGKILL");
                try { await reconcile; }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await d.DisposeAsync();
                crashes.Add((before, Files(sysroot)));

                d = await Start(binary, config, port);
                await Reconcile(d);
                b ??= Files(sysroot);
                Assert.Contains("no changes", (await Reconcile(d))["log"]!.ToJsonString(), StringComparison.Ordinal);
                await AssertTablesMatchSources(sysroot, $"after the kill at {delayMs} ms");

                // Back to the small state for the next round.
                var small = doc.DeepClone().AsObject();
                small["domains"] = new JsonArray(domains[0]!.DeepClone());
                small["mailboxes"] = new JsonArray(mailboxes[0]!.DeepClone());
                (await d.Http.PostAsync("/api/v1/backup/restore", new StringContent(small.ToJsonString()))).EnsureSuccessStatusCode();
                await Reconcile(d);
            }
            await d.DisposeAsync();

            foreach (var (old, crash) in crashes)
                foreach (var (path, bytes) in crash)
                {
                    var isOld = old.TryGetValue(path, out var oldBytes) && oldBytes.AsSpan().SequenceEqual(bytes);
                    var isNew = b!.TryGetValue(path, out var newBytes) && newBytes.AsSpan().SequenceEqual(bytes);
                    Assert.True(isOld || isNew, $"{path} is neither the old nor the new version after kill -9");
                }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
